"""Accounts pages; the views module owns its URL list."""

from accounts.views import urlpatterns

__all__ = ["urlpatterns"]
