from __future__ import annotations

from typing import Any

from ..models import AuditEvent, Organization, User


def audit(
    *,
    action: str,
    organization: Organization | None,
    actor: User | None,
    target: str = "",
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Write one audit row. Call it inside the transaction of the change.

    `details` must hold only safe values: ids, names, claim names, never a
    secret or a token.
    """
    return AuditEvent.objects.create(
        organization=organization,
        actor=actor if actor and actor.pk else None,
        action=action,
        target=target[:255],
        details=details or {},
        ip_address=ip,
    )
