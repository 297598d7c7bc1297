"""Django admin, for support staff: connections, their configurations, checks,
SSO identities and sign-in events.

Every admin here is read-only. A connection's change page cannot be saved:
editing would have to write a new draft through ``connection_update``, and the
console's edit page already does that for the owner, so support changes a
connection only through two audited actions that obey the console's rules:

- "Run a connection check" calls ``connection_check_start_as_support``;
- "Publish the draft" shows the irreversible-switch confirmation, asks for the
  organization's login path typed out, and calls
  ``connection_publish_as_support``, which refuses unless the latest finished
  check passed for exactly the current draft.

Both need an active staff user with ``SUPPORT_PERMISSION``; the audit rows name
that user as the actor, with ``{"by": "support"}``. The encrypted client secret
is never shown, searched or filtered on.
"""

from __future__ import annotations

import re

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.models import User
from connections.forms import PublishForm
from connections.models import (
    Connection,
    ConnectionCheck,
    ConnectionConfig,
    SecretExpiryReminder,
    SignInEvent,
    SigningKey,
    SsoIdentity,
)
from connections.services.checks import connection_check_start_as_support
from connections.services.connections import (
    SUPPORT_PERMISSION,
    connection_publish_as_support,
    connection_publish_blockers_as_support,
    connection_uris,
)
from organizations.access import client_ip
from organizations.admin import ReadOnlyAdmin, changelist_link
from organizations.broker import publish_watch
from organizations.errors import ServiceError
from organizations.services import support_has_perm

_ORGANIZATION_SEARCH = ("organization__name", "=organization__login_path")


def _staff(request: HttpRequest) -> User:
    """The signed-in staff member: the admin site lets no one else in."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in to the admin first.")
    return user


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("draft", "Draft only")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() in ("live", "draft"):
            return queryset.filter(live__isnull=self.value() == "draft")
        return queryset


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "organization",
        "login_path",
        "provider",
        "status",
        "health",
        "published_at",
    )
    list_filter = (StatusFilter, "provider", "health", "published_at")
    list_select_related = ("organization",)
    search_fields = (
        "name",
        *_ORGANIZATION_SEARCH,
        "draft__issuer_url",
        "draft__client_id",
    )
    search_help_text = (
        "Connection name, the organization's name or login path (exact), or the "
        "draft's issuer or client ID."
    )
    fields = (
        "name",
        "organization",
        "login_path",
        "provider",
        "status",
        "health",
        "draft",
        "live",
        "published_at",
        "created_at",
        "lists",
    )
    readonly_fields = fields
    actions = ("run_check", "publish")

    @admin.display(description="Login path", ordering="organization__login_path")
    def login_path(self, obj: Connection) -> str:
        return obj.organization.login_path

    @admin.display(description="Look up")
    def lists(self, obj: Connection) -> str:
        links = (
            ("admin:connections_connectioncheck_changelist", "Checks"),
            ("admin:connections_connectionconfig_changelist", "Configurations"),
            ("admin:connections_signinevent_changelist", "Sign-in events"),
            ("admin:connections_ssoidentity_changelist", "SSO identities"),
        )
        return format_html_join(
            " · ",
            "{}",
            (
                (changelist_link(name, label, connection__id__exact=obj.pk),)
                for name, label in links
            ),
        )

    def has_support_permission(self, request: HttpRequest) -> bool:
        return support_has_perm(_staff(request), SUPPORT_PERMISSION)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        connection = self.get_object(request, object_id)
        if connection is not None:
            extra_context = {
                **(extra_context or {}),
                "can_act": self.has_support_permission(request),
                "publish_blockers": connection_publish_blockers_as_support(
                    connection=connection, actor=_staff(request)
                ),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(
        description="Run a connection check of the draft", permissions=["support"]
    )
    def run_check(
        self, request: HttpRequest, queryset: QuerySet[Connection]
    ) -> HttpResponse | None:
        started: list[ConnectionCheck] = []
        for connection in queryset.select_related("organization"):
            try:
                with publish_watch() as queue:
                    check = connection_check_start_as_support(
                        actor=_staff(request),
                        connection=connection,
                        ip=client_ip(request),
                    )
            except ServiceError as exc:
                self.message_user(
                    request,
                    f"{connection.name} ({connection.organization}): {exc}",
                    messages.ERROR,
                )
            else:
                if queue.failed:
                    self.message_user(
                        request,
                        f"{connection.name} ({connection.organization}): the check "
                        "could not be queued: the task queue (broker) is not "
                        "reachable. Try again when it is back.",
                        messages.ERROR,
                    )
                    continue
                started.append(check)
        if not started:
            return None
        self.message_user(
            request,
            f"Checking the draft of {len(started)} connection"
            f"{'s' if len(started) != 1 else ''}; the checks list shows the "
            "results.",
            messages.SUCCESS,
        )
        if len(started) == 1:
            return HttpResponseRedirect(
                reverse(
                    "admin:connections_connectioncheck_change", args=[started[0].pk]
                )
            )
        return None

    @admin.action(description="Publish the draft…", permissions=["support"])
    def publish(
        self, request: HttpRequest, queryset: QuerySet[Connection]
    ) -> HttpResponse | None:
        connections = list(queryset.select_related("organization")[:2])
        if len(connections) != 1:
            self.message_user(
                request,
                "Publish one connection at a time: the confirmation asks for its "
                "organization's login path.",
                messages.ERROR,
            )
            return None
        connection = connections[0]
        org = connection.organization
        first_publish = not org.sso_enforced
        form = PublishForm(request.POST if "post" in request.POST else None)
        status = 200
        if form.is_bound:
            if form.is_valid():
                try:
                    connection_publish_as_support(
                        actor=_staff(request),
                        connection=connection,
                        confirm=form.cleaned_data["confirm"],
                        ip=client_ip(request),
                    )
                except ServiceError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"The draft of {connection.name} is live and SSO is "
                        f"enforced for {org}: everyone but the owner now signs in "
                        "through the IdP."
                        if first_publish
                        else f"The draft of {connection.name} is live; sign-ins "
                        "use it from now on.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse(
                            "admin:connections_connection_change",
                            args=[connection.pk],
                        )
                    )
            status = 400
        context = {
            **self.admin_site.each_context(request),
            "title": f"Publish {connection.name} ({org})",
            "opts": self.model._meta,
            "connection": connection,
            "organization": org,
            "first_publish": first_publish,
            "blockers": connection_publish_blockers_as_support(
                connection=connection, actor=_staff(request), organization=org
            ),
            "uris": connection_uris(org),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request,
            "admin/connections/connection/publish_confirmation.html",
            context,
            status=status,
        )


@admin.register(ConnectionConfig)
class ConnectionConfigAdmin(ReadOnlyAdmin):
    """Immutable rows; ``client_secret_encrypted`` is deliberately absent."""

    list_display = (
        "id",
        "connection",
        "organization",
        "used_as",
        "issuer_url",
        "client_id",
        "created_by",
        "created_at",
    )
    list_filter = ("created_at",)
    list_select_related = ("connection__organization", "created_by")
    search_fields = (
        "issuer_url",
        "client_id",
        "connection__name",
        "connection__organization__name",
        "=connection__organization__login_path",
    )
    search_help_text = (
        "Issuer, client ID, connection name, or the organization's name or login "
        "path (exact)."
    )
    fields = (
        "connection",
        "organization",
        "used_as",
        "issuer_url",
        "client_id",
        "scopes",
        "groups_claim",
        "email_claim",
        "leeway_seconds",
        "idp_logout",
        "provider",
        "groups_from_graph",
        "token_auth_method",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(
        description="Organization", ordering="connection__organization__name"
    )
    def organization(self, obj: ConnectionConfig) -> str:
        return str(obj.connection.organization)

    @admin.display(description="Used as")
    def used_as(self, obj: ConnectionConfig) -> str:
        roles = [
            label
            for label, config_id in (
                ("draft", obj.connection.draft_id),
                ("live", obj.connection.live_id),
            )
            if config_id == obj.pk
        ]
        return " and ".join(roles) or "—"


@admin.register(ConnectionCheck)
class ConnectionCheckAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "connection",
        "organization",
        "kind",
        "status",
        "covers_draft",
        "created_by",
        "finished_at",
    )
    list_filter = ("kind", "status", "created_at")
    list_select_related = (
        "connection__organization",
        "connection__draft",
        "created_by",
    )
    search_fields = (
        "connection__name",
        "connection__organization__name",
        "=connection__organization__login_path",
        "created_by__email",
    )
    search_help_text = (
        "Connection name, the organization's name or login path (exact), or the "
        "email of who started it."
    )
    # Periodic checks run hourly for every live connection: the table grows.
    show_full_result_count = False
    fields = (
        "connection",
        "organization",
        "config",
        "kind",
        "status",
        "covers_draft",
        "step_list",
        "result",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(
        description="Organization", ordering="connection__organization__name"
    )
    def organization(self, obj: ConnectionCheck) -> str:
        return str(obj.connection.organization)

    @admin.display(description="Covers the current draft", boolean=True)
    def covers_draft(self, obj: ConnectionCheck) -> bool:
        """The configuration row and fingerprint it tested are the draft's."""
        draft = obj.connection.draft
        return (
            draft is not None
            and obj.config_id == draft.pk
            and obj.fingerprint == draft.fingerprint
        )

    @admin.display(description="Steps")
    def step_list(self, obj: ConnectionCheck) -> str:
        steps = [step for step in obj.steps if isinstance(step, dict)]
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><strong>{}</strong> {}: {} {}</li>",
                (
                    (
                        step.get("status", ""),
                        step.get("name") or step.get("key", ""),
                        step.get("detail", ""),
                        step.get("fix", ""),
                    )
                    for step in steps
                ),
            ),
        )


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    """The console's keys for private_key_jwt; ``private_key_encrypted`` is
    deliberately absent (the public JWK holds public members only)."""

    list_display = ("kid", "alg", "state", "connection", "organization", "created_at")
    list_filter = ("state", "alg")
    list_select_related = ("connection__organization",)
    search_fields = (
        "=kid",
        "connection__name",
        "connection__organization__name",
        "=connection__organization__login_path",
    )
    search_help_text = (
        "Key ID (exact), connection name, or the organization's name or login "
        "path (exact)."
    )
    fields = (
        "kid",
        "alg",
        "state",
        "connection",
        "organization",
        "public_jwk",
        "created_by",
        "created_at",
        "activated_at",
        "retired_at",
    )
    readonly_fields = fields

    @admin.display(
        description="Organization", ordering="connection__organization__name"
    )
    def organization(self, obj: SigningKey) -> str:
        return str(obj.connection.organization)


@admin.register(SecretExpiryReminder)
class SecretExpiryReminderAdmin(ReadOnlyAdmin):
    list_display = ("config", "days_before", "sent_at")
    list_select_related = ("config",)
    list_filter = ("days_before",)
    fields = ("config", "days_before", "sent_at")
    readonly_fields = fields


@admin.register(SsoIdentity)
class SsoIdentityAdmin(ReadOnlyAdmin):
    list_display = ("subject", "issuer", "user", "connection", "organization")
    list_filter = ("created_at",)
    list_select_related = ("user", "connection__organization")
    search_fields = (
        "subject",
        "user__email",
        "issuer",
        "connection__organization__name",
        "=connection__organization__login_path",
    )
    search_help_text = (
        "Subject (sub), the person's email, issuer, or the organization's name or "
        "login path (exact)."
    )
    fields = ("user", "connection", "organization", "issuer", "subject", "created_at")
    readonly_fields = fields

    @admin.display(
        description="Organization", ordering="connection__organization__name"
    )
    def organization(self, obj: SsoIdentity) -> str:
        return str(obj.connection.organization)


# As new_reference() writes them and the error page shows them.
_REFERENCE_RE = re.compile(r"[A-HJ-NP-Z2-9]{10}")


@admin.register(SignInEvent)
class SignInEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "reference",
        "organization",
        "connection",
        "outcome",
        "step",
        "email",
        "subject",
        "is_test",
    )
    list_filter = ("outcome", "is_test", "created_at")
    list_select_related = ("organization", "connection")
    search_fields = (
        "=reference",
        "email",
        "subject",
        *_ORGANIZATION_SEARCH,
    )
    search_help_text = (
        "The reference from the person's error page, their email address or "
        "subject, or the organization's name or login path (exact)."
    )
    show_full_result_count = False
    fields = (
        "reference",
        "created_at",
        "organization",
        "connection",
        "outcome",
        "step",
        "detail",
        "email",
        "subject",
        "is_test",
        "ip_address",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        # A reference as the error page shows it: one indexed look-up, not a
        # scan of every event's email and subject.
        term = search_term.strip()
        if _REFERENCE_RE.fullmatch(term):
            return queryset.filter(reference=term), False
        return super().get_search_results(request, queryset, search_term)
