from django.urls import path

from setuplinks import views

urlpatterns = [
    path("orgs/<str:org>/setup-links/", views.setup_link_list, name="setup_link_list"),
    path(
        "orgs/<str:org>/setup-links/<int:link_id>/revoke/",
        views.setup_link_revoke_view,
        name="setup_link_revoke",
    ),
    # The wizard's fixed pages come before the link's own (setup/<token>/).
    path("setup/", views.setup_home, name="setup_home"),
    path("setup/configure/", views.setup_configure, name="setup_configure"),
    path("setup/check/", views.setup_check_start, name="setup_check_start"),
    path(
        "setup/checks/<int:check_id>/",
        views.setup_check_detail,
        name="setup_check_detail",
    ),
    path("setup/test-signin/", views.setup_test_signin, name="setup_test_signin"),
    path("setup/publish/", views.setup_publish, name="setup_publish"),
    path("setup/leave/", views.setup_leave, name="setup_leave"),
    path("setup/<str:token>/", views.setup_link_open_view, name="setup_link_open"),
]
