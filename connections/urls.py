"""Each view module owns its URL list; this file only joins them."""

from connections.views import backchannel, connections, signing_keys, sso

urlpatterns = [
    *connections.urlpatterns,
    *sso.urlpatterns,
    *backchannel.urlpatterns,
    *signing_keys.urlpatterns,
]
