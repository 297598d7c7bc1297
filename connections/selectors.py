"""Reads for the console. Each costs a constant number of queries."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.urls import NoReverseMatch, reverse

from rolemapping.models import GroupRoleMapping, Membership

from .models import AuditEvent, Connection, ConnectionCheck, Domain, Organization


def members_page(org: Organization, number: int, size: int) -> Page:
    members = (
        Membership.objects.filter(organization=org)
        .select_related("user", "role")
        .order_by("created_at", "id")
    )
    return Paginator(members, size).get_page(number)


def audit_page(org: Organization, number: int, size: int) -> Page:
    events = AuditEvent.objects.filter(organization=org).select_related("actor")
    return Paginator(events, size).get_page(number)


def _url(name: str, org: Organization) -> str:
    try:
        return reverse(name, args=[org.login_path])
    except NoReverseMatch:
        return ""


def setup_checklist(org: Organization) -> list[dict]:
    """The overview's set-up steps, each with whether it is done and where."""
    has_domain = Domain.objects.filter(
        organization=org, status=Domain.Status.VERIFIED
    ).exists()
    has_connection = Connection.objects.filter(organization=org).exists()
    tested = ConnectionCheck.objects.filter(
        connection__organization=org,
        kind=ConnectionCheck.Kind.CHECK,
        status=ConnectionCheck.Status.PASSED,
    ).exists()
    mapped = (
        org.default_role_id is not None
        or GroupRoleMapping.objects.filter(organization=org).exists()
    )
    invited = org.invitations.exists()
    return [
        {
            "label": "Verify an email domain",
            "hint": "Prove you own the domain your people's emails use.",
            "done": has_domain,
            "url": _url("domain_list", org),
        },
        {
            "label": "Add an SSO connection",
            "hint": "Paste the issuer, client ID and secret from Okta.",
            "done": has_connection,
            "url": _url("connection_list", org),
        },
        {
            "label": "Test the connection",
            "hint": "A passing check is required before it can go live.",
            "done": tested,
            "url": _url("connection_list", org),
        },
        {
            "label": "Map IdP groups to roles",
            "hint": "Or choose a default role for everyone who signs in.",
            "done": mapped,
            "url": _url("mappings", org),
        },
        {
            "label": "Invite people",
            "hint": "Invite your team by email.",
            "done": invited,
            "url": _url("invitation_list", org),
        },
        {
            "label": "Enforce SSO",
            "hint": "The irreversible switch: everyone but the owner signs in "
            "through your IdP.",
            "done": org.sso_enforced,
            "url": _url("connection_list", org),
        },
    ]


def connections_failing_health(org: Organization) -> list[Connection]:
    """Live connections whose latest hourly health check failed, for the overview.

    Each carries ``failing_check_id``, the latest periodic check. One query.
    """
    from django.db.models import OuterRef, Subquery

    latest_periodic = ConnectionCheck.objects.filter(
        connection=OuterRef("pk"), kind=ConnectionCheck.Kind.PERIODIC
    ).order_by("-created_at", "-id")
    return list(
        Connection.objects.filter(
            organization=org,
            live__isnull=False,
            health=Connection.Health.FAILING,
        )
        .annotate(failing_check_id=Subquery(latest_periodic.values("id")[:1]))
        .order_by("name", "id")
    )
