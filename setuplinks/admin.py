"""Django admin, for support staff: setup links, read-only.

Owners create and revoke links in the console (``setuplinks.services``); the
token's and the browser binding's digests are never shown.
"""

from django.contrib import admin

from organizations.admin import ReadOnlyAdmin
from setuplinks.models import SetupLink


@admin.register(SetupLink)
class SetupLinkAdmin(ReadOnlyAdmin):
    list_display = (
        "email",
        "organization",
        "connection",
        "created_at",
        "expires_at",
        "opened_at",
        "revoked_at",
    )
    list_select_related = ("organization", "connection")
    search_fields = ("email", "organization__login_path", "organization__name")
    list_filter = ("created_at",)
    fields = (
        "organization",
        "email",
        "note",
        "connection",
        "created_by",
        "created_at",
        "expires_at",
        "opened_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
