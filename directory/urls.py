"""Directory sync: the console page and the SCIM endpoint."""

from django.urls import path, re_path

from directory.views.console import directory_page, scim_guide, token_revoke_view
from directory.views.scim import scim_endpoint

urlpatterns = [
    path("orgs/<str:org>/directory/", directory_page, name="directory"),
    path(
        "orgs/<str:org>/directory/tokens/<int:token_id>/revoke/",
        token_revoke_view,
        name="directory_token_revoke",
    ),
    path("docs/scim-setup/", scim_guide, name="scim_guide"),
    path("scim/v2/<str:org>/", scim_endpoint, name="scim_base"),
    re_path(
        r"^scim/v2/(?P<org>[^/]+)/(?P<resource>[^/]+)(?:/(?P<scim_id>[^/]+))?/?$",
        scim_endpoint,
        name="scim_resource",
    ),
]
