from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("django-admin/", admin.site.urls),
    path("", include("config.health")),
    path("", include("accounts.urls")),
    path("", include("organizations.urls")),
    path("", include("rolemapping.urls")),
    path("", include("domains.urls")),
    path("", include("invitations.urls")),
    path("", include("directory.urls")),
    path("", include("connections.urls")),
    path("", include("setuplinks.urls")),
]

handler500 = "config.errors.server_error"
