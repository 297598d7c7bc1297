"""Each view module owns its URL list; this file only joins them."""

from .views import accounts, console

urlpatterns = [*accounts.urlpatterns, *console.urlpatterns]
