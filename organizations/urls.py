"""Organizations pages; the views module owns its URL list."""

from organizations.views import urlpatterns

__all__ = ["urlpatterns"]
