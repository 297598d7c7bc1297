"""Hooks for the apps above: organizations knows nothing of what they keep."""

from django.dispatch import Signal

# Sent inside the creating transaction with ``organization`` and ``owner``.
# rolemapping seeds the roles and the owner's membership.
organization_created = Signal()
