"""Each view module owns its URL list; this file only joins them."""

from .views import accounts, connections, console, domains, invitations, sso

urlpatterns = [
    *accounts.urlpatterns,
    *console.urlpatterns,
    *domains.urlpatterns,
    *connections.urlpatterns,
    *invitations.urlpatterns,
    *sso.urlpatterns,
]
