"""Domains pages; the views module owns its URL list."""

from domains.views import urlpatterns

__all__ = ["urlpatterns"]
