"""Django admin, for support staff: directory tokens, users and groups,
read-only. Tokens show their prefix only; the digest is never displayed."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from directory.models import ScimGroup, ScimToken, ScimUser
from organizations.admin import ReadOnlyAdmin

_ORGANIZATION_SEARCH = ("organization__name", "=organization__login_path")


@admin.register(ScimToken)
class ScimTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "prefix", "organization", "created_at", "last_used_at")
    list_select_related = ("organization",)
    search_fields = _ORGANIZATION_SEARCH
    search_help_text = _("The organization's name or login path (exact).")
    fields = (
        "organization",
        "name",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields


@admin.register(ScimUser)
class ScimUserAdmin(ReadOnlyAdmin):
    list_display = ("user_name", "organization", "active", "external_id")
    list_filter = ("active",)
    list_select_related = ("organization",)
    search_fields = ("user_name_key", *_ORGANIZATION_SEARCH)
    search_help_text = _("Email, or the organization's name or login path (exact).")
    fields = (
        "id",
        "organization",
        "user",
        "user_name",
        "external_id",
        "given_name",
        "family_name",
        "display_name",
        "active",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields


@admin.register(ScimGroup)
class ScimGroupAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "organization", "external_id")
    list_select_related = ("organization",)
    search_fields = ("display_name", *_ORGANIZATION_SEARCH)
    search_help_text = _("Group name, or the organization's name or login path.")
    fields = (
        "id",
        "organization",
        "display_name",
        "external_id",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
