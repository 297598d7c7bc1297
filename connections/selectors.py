"""Reads for the connection pages. Each costs a constant number of queries."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from connections.models import Connection, ConnectionCheck
from organizations.models import Organization


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
