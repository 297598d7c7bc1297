"""Django admin, for support staff. Every field that a service owns is read-only
here: the admin never becomes a way around the services' rules. Changes that
must be audited are admin actions that call a service with ``actor=`` the staff
user (see ``connections.admin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from organizations.models import AuditEvent, Organization, OutboundEmail

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class ReadOnlyAdmin(admin.ModelAdmin):
    """Support staff read; changes go through the services (and their audit).

    Subclasses list their ``fields`` explicitly (and the same names as
    ``readonly_fields``), so a column added later, a secret say, is not shown
    until someone decides it may be.
    """

    list_per_page = 50
    # "View on site" would open the console, which staff are not members of.
    view_on_site = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def changelist_link(url_name: str, label: StrOrPromise, **filters) -> str:
    """A link to another admin's list, filtered (e.g. by organization)."""
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        return ""
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), label)


_ORGANIZATION_LISTS = (
    ("admin:rolemapping_membership_changelist", _("Members")),
    ("admin:connections_connection_changelist", _("Connections")),
    ("admin:domains_domain_changelist", _("Domains")),
    ("admin:invitations_invitation_changelist", _("Invitations")),
    ("admin:rolemapping_grouprolemapping_changelist", _("Group mappings")),
    ("admin:connections_signinevent_changelist", _("Sign-in events")),
    ("admin:organizations_auditevent_changelist", _("Audit log")),
)


@admin.register(Organization)
class OrganizationAdmin(ReadOnlyAdmin):
    list_display = ("name", "login_path", "owner", "sso_enforced", "created_at")
    list_filter = (
        "sso_enforced",
        "invitation_only",
        "only_mapped_groups",
        "created_at",
    )
    list_select_related = ("owner",)
    search_fields = ("name", "=login_path", "owner__email")
    search_help_text = _("Name, login path (exact) or the owner's email address.")
    fields = (
        "name",
        "login_path",
        "owner",
        "sso_enforced",
        "sso_enforced_at",
        "default_role",
        "only_mapped_groups",
        "invitation_only",
        "created_at",
        "lists",
    )
    readonly_fields = fields

    @admin.display(description=_("Look up"))
    def lists(self, obj: Organization) -> str:
        links = [
            changelist_link(name, label, organization__id__exact=obj.pk)
            for name, label in _ORGANIZATION_LISTS
        ]
        return format_html_join(" · ", "{}", ((link,) for link in links if link))


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "actor", "action", "target", "by")
    list_filter = ("created_at",)
    list_select_related = ("organization", "actor")
    search_fields = (
        "action",
        "target",
        "actor__email",
        "organization__name",
        "=organization__login_path",
    )
    search_help_text = _(
        "Action (e.g. connection.published), target, the actor's email, or the "
        "organization's name or login path (exact)."
    )
    # The audit log only grows: skip counting the whole table on every page.
    show_full_result_count = False
    fields = (
        "created_at",
        "organization",
        "actor",
        "action",
        "target",
        "details",
        "ip_address",
    )
    readonly_fields = fields

    @admin.display(description=_("By"))
    def by(self, obj: AuditEvent) -> str:
        """Who acted besides a member: "support", "idp", "hand"."""
        return str(obj.details.get("by", "")) if isinstance(obj.details, dict) else ""


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyAdmin):
    """The outbox: what was sent, what waits, and what was given up and why.
    The body (which may hold a working link) is never shown."""

    list_display = (
        "created_at",
        "kind",
        "to",
        "organization",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    )
    list_filter = ("status", "kind", "created_at")
    list_select_related = ("organization",)
    search_fields = (
        "=to",
        "subject",
        "organization__name",
        "=organization__login_path",
    )
    search_help_text = _(
        "The recipient's address (exact), the subject, or the organization's "
        "name or login path (exact)."
    )
    show_full_result_count = False
    fields = (
        "kind",
        "organization",
        "to",
        "subject",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_until",
        "last_error",
        "created_at",
        "sent_at",
        "dedupe_key",
        "ref",
    )
    readonly_fields = fields
