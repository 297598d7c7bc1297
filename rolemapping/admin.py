"""Django admin, for support staff: roles, memberships and group mappings.

All read-only. Roles are seeded with their organization; memberships change
through sign-in, invitations and the console's services (there is no service
for support to deactivate or reactivate a member by hand, so the admin offers
none); mappings change on the console's role-mapping page, with its impact
preview.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from organizations.admin import ReadOnlyAdmin
from rolemapping.models import GroupRoleMapping, IdpGroupName, Membership, Role

_ORGANIZATION_SEARCH = ("organization__name", "=organization__login_path")


@admin.register(Role)
class RoleAdmin(ReadOnlyAdmin):
    list_display = ("name", "slug", "organization", "rank")
    list_filter = ("slug",)
    list_select_related = ("organization",)
    search_fields = _ORGANIZATION_SEARCH
    search_help_text = _("The organization's name or login path (exact).")
    fields = ("organization", "slug", "name", "rank")
    readonly_fields = fields


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = (
        "user",
        "organization",
        "role",
        "source",
        "is_active",
        "managed_by_idp",
        "last_sso_login_at",
    )
    list_filter = ("is_active", "managed_by_idp", "source", "role__slug")
    list_select_related = ("user", "organization", "role")
    search_fields = ("user__email", *_ORGANIZATION_SEARCH)
    search_help_text = _(
        "The member's email address, or the organization's name or login path (exact)."
    )
    fields = (
        "user",
        "organization",
        "role",
        "source",
        "is_active",
        "managed_by_idp",
        "idp_groups",
        "invited_role",
        "last_sso_login_at",
        "created_at",
    )
    readonly_fields = fields


@admin.register(GroupRoleMapping)
class GroupRoleMappingAdmin(ReadOnlyAdmin):
    list_display = ("idp_group", "role", "organization", "created_at")
    list_filter = ("role__slug",)
    list_select_related = ("role", "organization")
    search_fields = ("idp_group", *_ORGANIZATION_SEARCH)
    search_help_text = _(
        "The IdP group, or the organization's name or login path (exact)."
    )
    fields = ("organization", "idp_group", "role", "created_at")
    readonly_fields = fields


@admin.register(IdpGroupName)
class IdpGroupNameAdmin(ReadOnlyAdmin):
    list_display = ("idp_group", "display_name", "organization", "updated_at")
    list_select_related = ("organization",)
    search_fields = ("idp_group", "display_name", *_ORGANIZATION_SEARCH)
    search_help_text = _(
        "The IdP group or its name, or the organization's name or login path (exact)."
    )
    fields = ("organization", "idp_group", "display_name", "updated_at")
    readonly_fields = fields
