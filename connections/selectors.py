"""Reads for the connection pages. Each costs a constant number of queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from connections.models import (
    Connection,
    ConnectionCheck,
    ConnectionConfig,
    SignInEvent,
    SsoIdentity,
)
from invitations.models import Invitation
from organizations.models import Organization
from rolemapping.models import Membership


def connections_failing_health(org: Organization) -> list[Connection]:
    """Live connections whose latest hourly health check failed, for the overview.

    Each carries ``failing_check_id``, the latest periodic check. One query.
    """
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


def signin_attempts_page(
    connection: Connection, number: int, size: int
) -> Page[SignInEvent]:
    """The sign-in attempts through ``connection`` that reached the IdP, newest
    first, one page: two queries (count and rows), whatever the table holds."""
    events = SignInEvent.objects.filter(
        connection=connection, reached_idp=True
    ).order_by("-created_at", "-id")
    return Paginator(events, size).get_page(number)


def refusals_before_idp(
    connection: Connection, *, days: int = 7
) -> list[dict[str, Any]]:
    """Sign-ins refused before reaching the IdP in the last ``days``, counted by
    reason (``step``), for this connection and the organization's none-live
    refusals. One query."""
    since = timezone.now() - timedelta(days=days)
    return list(
        SignInEvent.objects.filter(
            Q(connection=connection) | Q(connection__isnull=True),
            organization_id=connection.organization_id,
            reached_idp=False,
            created_at__gte=since,
        )
        .values("step")
        .annotate(count=Count("id"), last_at=Max("created_at"))
        .order_by("-count", "step")
    )


def live_configs_for_issuer(issuer: str) -> list[ConnectionConfig]:
    """The live configurations whose issuer is exactly ``issuer``, with their
    connection and organization: several organizations may share one IdP
    tenant (each with its own client ID). One query."""
    return list(
        ConnectionConfig.objects.filter(
            issuer_url=issuer, connection__live=F("pk")
        ).select_related("connection__organization")
    )


def identity_user_id(*, connection_id: int, issuer: str, subject: str) -> int | None:
    """The account an IdP subject signs in to through this connection, if any.

    The one place that maps (connection, issuer, ``sub``) to a person outside
    the sign-in itself: back-channel logout by ``sub`` reads it. One query.
    """
    return (
        SsoIdentity.objects.filter(
            connection_id=connection_id, issuer=issuer, subject=subject
        )
        .values_list("user_id", flat=True)
        .first()
    )


AFFECTED_LIST_LIMIT = 100


def switch_affected(org: Organization) -> dict[str, Any]:
    """Who the switch to SSO changes, for the publish page: the active
    members, owner aside, whose password stops working for the organization,
    and the pending invitations, which will be accepted through the IdP.

    Each list holds at most AFFECTED_LIST_LIMIT rows, with the full count.
    Four queries.
    """
    members = (
        Membership.objects.filter(organization=org, is_active=True)
        .exclude(user_id=org.owner_id)
        .exclude(user__password__startswith=UNUSABLE_PASSWORD_PREFIX)
        .exclude(user__password="")
        .select_related("user", "role")
        .order_by("user__email")
    )
    invitations = (
        Invitation.objects.filter(
            organization=org,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("role")
        .order_by("email")
    )
    return {
        "password_members": list(members[:AFFECTED_LIST_LIMIT]),
        "password_members_count": members.count(),
        "pending_invitations": list(invitations[:AFFECTED_LIST_LIMIT]),
        "pending_invitations_count": invitations.count(),
    }
