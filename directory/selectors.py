"""Reads for directory sync: the SCIM lists and look-ups, and the console's
summary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import canonical_email
from directory.models import ScimGroup, ScimToken, ScimUser
from organizations.models import AuditEvent, Organization

__all__ = [
    "DirectorySummary",
    "directory_summary",
    "directory_user_inactive",
    "scim_group_get",
    "scim_groups_page",
    "scim_user_get",
    "scim_users_page",
]

SUMMARY_EVENTS = 20


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def directory_user_inactive(*, organization: Organization, user_id: int) -> bool:
    """Whether this organization's directory holds the person as inactive
    (``active: false``): a just-in-time sign-in must not let them in."""
    return ScimUser.objects.filter(
        organization=organization, user_id=user_id, active=False
    ).exists()


def scim_user_get(organization: Organization, scim_id: str) -> ScimUser | None:
    pk = _uuid(scim_id)
    if pk is None:
        return None
    return (
        ScimUser.objects.filter(organization=organization, pk=pk)
        .select_related("user")
        .order_by()
        .first()
    )


def scim_group_get(organization: Organization, scim_id: str) -> ScimGroup | None:
    pk = _uuid(scim_id)
    if pk is None:
        return None
    return ScimGroup.objects.filter(organization=organization, pk=pk).order_by().first()


def _page(rows: QuerySet, unique: bool, start: int, count: int) -> tuple[list, int]:
    if unique:
        # A filter on a unique key: at most one row, one indexed query.
        found = list(rows.order_by()[:1])
        return (found if start == 1 else [])[:count], len(found)
    total = rows.count()
    if count == 0:
        return [], total
    return list(rows[start - 1 : start - 1 + count]), total


def scim_users_page(
    organization: Organization, terms: dict[str, str], start: int, count: int
) -> tuple[list[ScimUser], int]:
    """A page of the organization's directory users matching ``terms``
    (``userName``, ``externalId``, ``id``, all equal) and the total. A filter
    on ``userName`` or ``id`` is one query, by a unique index."""
    rows = ScimUser.objects.filter(organization=organization)
    if "userName" in terms:
        rows = rows.filter(user_name_key=canonical_email(terms["userName"]))
    if "externalId" in terms:
        rows = rows.filter(external_id=terms["externalId"])
    if "id" in terms:
        pk = _uuid(terms["id"])
        if pk is None:
            return [], 0
        rows = rows.filter(pk=pk)
    unique = "userName" in terms or "id" in terms
    return _page(rows, unique, start, count)


def scim_groups_page(
    organization: Organization,
    terms: dict[str, str],
    start: int,
    count: int,
    *,
    with_members: bool,
) -> tuple[list[ScimGroup], int]:
    rows = ScimGroup.objects.filter(organization=organization)
    if "displayName" in terms:
        rows = rows.filter(display_name=terms["displayName"])
    if "externalId" in terms:
        rows = rows.filter(external_id=terms["externalId"])
    if "id" in terms:
        pk = _uuid(terms["id"])
        if pk is None:
            return [], 0
        rows = rows.filter(pk=pk)
    if with_members:
        rows = rows.prefetch_related("members")
    unique = "displayName" in terms or "id" in terms
    return _page(rows, unique, start, count)


@dataclass(frozen=True)
class DirectorySummary:
    tokens: list[ScimToken]
    users: int
    active_users: int
    groups: int
    events: list[AuditEvent]


def directory_summary(organization: Organization) -> DirectorySummary:
    """What the Directory sync page shows: tokens, counts, the last events."""
    users = ScimUser.objects.filter(organization=organization)
    return DirectorySummary(
        tokens=list(
            ScimToken.objects.filter(organization=organization).select_related(
                "created_by"
            )
        ),
        users=users.count(),
        active_users=users.filter(active=True).count(),
        groups=ScimGroup.objects.filter(organization=organization).count(),
        events=list(
            AuditEvent.objects.filter(
                organization=organization, action__startswith="directory."
            )
            .exclude(action__startswith="directory.token_")
            .order_by("-created_at", "-id")[:SUMMARY_EVENTS]
        ),
    )
