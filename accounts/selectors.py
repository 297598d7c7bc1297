"""Accounts' reads: whether a password may sign this account in."""

from __future__ import annotations

from accounts.models import User
from organizations.models import Organization
from organizations.permissions import OWNER
from rolemapping.models import Membership


def sso_required_orgs(user: User) -> list[Organization]:
    """The SSO-enforced organizations whose single sign-on ``user`` must use
    instead of a password; [] when a password may sign them in.

    A member of an organization that enforces SSO signs in through it, whatever
    else they own. The owner of an enforced organization keeps break-glass
    password sign-in; that session then opens no enforced organization they
    do not own (organizations.access.org_context).
    """
    memberships = list(
        Membership.objects.filter(
            user=user, is_active=True, organization__sso_enforced=True
        ).select_related("organization", "role")
    )
    if any(m.role.slug == OWNER for m in memberships):
        return []
    return [m.organization for m in memberships]
