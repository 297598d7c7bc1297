"""Invitations pages; the views module owns its URL list."""

from invitations.views import urlpatterns

__all__ = ["urlpatterns"]
