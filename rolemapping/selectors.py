"""Reads for role mapping. Each costs a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Subquery

from organizations.models import Organization
from rolemapping.models import GroupRoleMapping, IdpGroupName, Membership, Role


def org_mappings(organization: Organization) -> dict[str, str]:
    """All of an organization's mappings as {idp_group: role slug}: one query.

    Loaded whole rather than filtered by the token's groups, so the cost does not
    depend on how many groups a token carries (and no 1,000-item IN list).
    """
    return dict(
        GroupRoleMapping.objects.filter(organization=organization)
        .order_by()  # a dict: the model's ordering would only cost a sort
        .values_list("idp_group", "role__slug")
    )


def mappings_page(organization: Organization, number: int, size: int) -> Page[Any]:
    # ``display_name``: the name the IdP gave the group (Entra's GUIDs), when
    # one is known; a subquery, so the page stays one query.
    names = IdpGroupName.objects.filter(
        organization=OuterRef("organization"), idp_group=OuterRef("idp_group")
    ).values("display_name")[:1]
    mappings = (
        GroupRoleMapping.objects.filter(organization=organization)
        .select_related("role")
        .annotate(display_name=Subquery(names))
        .order_by("idp_group", "id")
    )
    return Paginator(mappings, size).get_page(number)


def grantable_roles(organization: Organization) -> list[Role]:
    """The roles an IdP group, a default or an invitation may grant (never owner)."""
    return list(
        Role.objects.filter(organization=organization)
        .exclude(slug=Role.Slug.OWNER)
        .order_by("-rank")
    )


def org_default_role_slug(organization: Organization) -> str | None:
    """The organization's default role slug, None when it has none."""
    return organization.default_role or None


@dataclass(frozen=True)
class ManagedMember:
    """What the impact preview needs to know of one IdP-managed member."""

    email: str
    role: str
    is_active: bool
    idp_groups: tuple[str, ...]
    invitation_role: str | None


def managed_members(
    organization: Organization, *, active_only: bool = False
) -> list[ManagedMember]:
    """Every IdP-managed member except the owner, in ONE query.

    ``invitation_role`` is the role of the last invitation the member accepted:
    a sign-in that matches no mapping keeps it (see ``membership_sync``).
    """
    members = Membership.objects.filter(
        organization=organization, managed_by_idp=True
    ).exclude(role__slug=Role.Slug.OWNER)
    if active_only:
        members = members.filter(is_active=True)
    rows = members.order_by("created_at", "id").values_list(
        "user__email", "role__slug", "is_active", "idp_groups", "invited_role"
    )
    return [
        ManagedMember(
            email=email,
            role=role,
            is_active=is_active,
            idp_groups=tuple(g for g in (groups or []) if isinstance(g, str)),
            invitation_role=invitation_role or None,
        )
        for email, role, is_active, groups, invitation_role in rows
    ]


def members_page(org: Organization, number: int, size: int) -> Page[Membership]:
    members = (
        Membership.objects.filter(organization=org)
        .select_related("user", "role")
        .order_by("created_at", "id")
    )
    return Paginator(members, size).get_page(number)
