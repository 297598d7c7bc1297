"""Role-mapping pages, under each organization's console."""

from django.urls import path

from rolemapping import views

urlpatterns = [
    path("orgs/<str:org>/members/", views.member_list, name="member_list"),
    path(
        "orgs/<str:org>/members/<int:member_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path("orgs/<str:org>/mappings/", views.mappings, name="mappings"),
    path(
        "orgs/<str:org>/mappings/settings/",
        views.mapping_settings,
        name="mapping_settings",
    ),
    path(
        "orgs/<str:org>/mappings/<int:mapping_id>/delete/",
        views.mapping_delete_view,
        name="mapping_delete",
    ),
]
