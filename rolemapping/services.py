"""Group-to-role mappings, provisioning settings and the sync on every SSO sign-in.

Every state change here is one function: it checks permission, writes its audit
row in the same transaction and raises ``ServiceError`` with a sentence to show
and a code when it refuses. The deciding itself is pure
(``rolemapping.provisioning``); this module loads what the decision needs and
acts on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from organizations.errors import PermissionDenied, ServiceError
from organizations.models import Organization
from organizations.services import audit, require_perm
from rolemapping.models import GroupRoleMapping, IdpGroupName, Membership, Role
from rolemapping.provisioning import (
    ROLE_RANK,
    Decision,
    ProvisioningSettings,
    roles_from_claims,
)
from rolemapping.selectors import managed_members, org_default_role_slug, org_mappings

if TYPE_CHECKING:
    from accounts.models import User

__all__ = [
    "Impact",
    "decision_for_signin",
    "grantable_role",
    "group_names_remember",
    "impact_preview",
    "idp_group_clean",
    "mapping_delete",
    "mapping_set",
    "membership_apply",
    "membership_for",
    "membership_sync",
    "owner_refusal",
    "provisioning_settings_for",
    "provisioning_settings_update",
    "role_for_decision",
    "role_reason",
    "role_unknown_refusal",
]

IDP_GROUP_MAX_LENGTH = 255
# Audit details stay small however many groups a token carries.
AUDIT_GROUPS_LIMIT = 20
# The stored groups are re-read under this claim name for the impact preview.
STORED_GROUPS_CLAIM = "groups"


def owner_refusal() -> ServiceError:
    """The refusal to give anyone the owner role: by group mapping, default role,
    invitation or role change."""
    return ServiceError(
        _(
            "The owner role is never granted by the identity provider, by an "
            "invitation or by a role change: an organization has exactly one "
            "owner. Choose admin, member or viewer."
        ),
        code="owner_not_grantable",
    )


def role_unknown_refusal() -> ServiceError:
    """The refusal of a role slug the organization does not have. The slug is
    not repeated: a posted value may hold anything."""
    return ServiceError(
        _("There is no such role. Choose admin, member or viewer."),
        code="role_unknown",
    )


def _max_groups() -> int:
    return max(1, int(getattr(settings, "SSO_MAX_GROUPS", 1000)))


def provisioning_settings_for(
    organization: Organization, *, groups_claim: str = STORED_GROUPS_CLAIM
) -> ProvisioningSettings:
    """The organization's settings as the pure function's plain values."""
    return ProvisioningSettings(
        default_role=org_default_role_slug(organization),
        only_mapped_groups=organization.only_mapped_groups,
        groups_claim=groups_claim or STORED_GROUPS_CLAIM,
        max_groups=_max_groups(),
    )


def decision_for_signin(
    *, organization: Organization, claims: Mapping[str, Any], groups_claim: str
) -> Decision:
    """Decide a sign-in's role from verified claims.

    One query loads every mapping of the organization (plus, once, the default
    role if it is not loaded yet), however many groups the token carries.
    """
    mappings = org_mappings(organization)
    return roles_from_claims(
        claims,
        mappings,
        provisioning_settings_for(organization, groups_claim=groups_claim),
    )


def role_for_decision(decision: Decision, invitation_role: str | None) -> str | None:
    """The role a sign-in gets: a matched mapping wins, then the invitation's role,
    then the decision's default role. None when the decision refuses.

    The invitation's role also applies to later sign-ins that match no mapping
    (``invitation_role`` is then the role of the invitation they accepted), so a
    person invited as admin is not demoted to the default role on their second
    sign-in.
    """
    if not decision.allowed:
        return None
    if decision.matched_groups:
        return decision.role
    if invitation_role in ROLE_RANK:
        return invitation_role
    return decision.role


INVITATION_ROLE_CODE = "invitation_role"


def role_reason(decision: Decision, invitation_role: str | None) -> tuple[str, str]:
    """Why a sign-in got the role :func:`role_for_decision` gives: the
    decision's own reason and code, unless the role is the invitation's (no
    mapping matched), which the decision knows nothing of."""
    if (
        decision.allowed
        and not decision.matched_groups
        and invitation_role in ROLE_RANK
    ):
        return (
            _(
                "The role of the invitation they accepted (%(role)s): no IdP "
                "group matched a mapping."
            )
            % {"role": invitation_role},
            INVITATION_ROLE_CODE,
        )
    return decision.reason, decision.code


def membership_for(
    organization: Organization, user: User, *, lock: bool = False
) -> Membership | None:
    """``user``'s membership in ``organization`` with its role (None if they
    have none); with ``lock``, locked until the transaction ends."""
    rows = Membership.objects.select_related("role")
    if lock:
        rows = rows.select_for_update(of=("self",))
    # A unique look-up: the model's ordering would only cost a sort.
    return rows.filter(organization=organization, user=user).order_by().first()


def _role(
    organization: Organization, slug: str | None, membership: Membership | None
) -> Role:
    """The organization's role ``slug``, without a query when it is the
    member's current role (a repeat sign-in)."""
    if membership is not None and membership.role.slug == slug:
        return membership.role
    return Role.objects.get(organization=organization, slug=slug)


def _groups_detail(groups: tuple[str, ...]) -> list[str]:
    return list(groups[:AUDIT_GROUPS_LIMIT])


@transaction.atomic
def membership_sync(
    *,
    organization: Organization,
    user: User,
    decision: Decision,
    invited_role: str | None = None,
    actor: User | None = None,
    ip: str | None = None,
) -> Membership | None:
    """Create or update ``user``'s membership from a sign-in's decision.

    Allowed: the membership exists, is active, is marked managed by the IdP, has
    the role from :func:`role_for_decision`, and remembers the groups seen and the
    sign-in time. Refused: an existing membership is deactivated (its open
    sessions end on their next request) and None is returned. The owner's
    membership keeps its role and its access whatever the IdP says; a refused
    owner sign-in still returns None. Every change is audited.
    """
    return membership_apply(
        organization=organization,
        user=user,
        membership=membership_for(organization, user, lock=True),
        decision=decision,
        invited_role=invited_role,
        actor=actor,
        ip=ip,
    )


def membership_apply(
    *,
    organization: Organization,
    user: User,
    membership: Membership | None,
    decision: Decision,
    invited_role: str | None = None,
    actor: User | None = None,
    ip: str | None = None,
) -> Membership | None:
    """:func:`membership_sync` for a caller that already holds ``membership``
    (``user``'s in ``organization``, None if they have none) locked by
    :func:`membership_for` (``lock=True``) in the transaction this runs in.

    The SSO callback reads the membership once, locked, to decide and to write.
    ``invited_role`` is the role of the invitation this sign-in accepts, if any;
    the membership remembers it (see :func:`role_for_decision`).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("membership_apply needs the transaction holding the lock.")
    actor = actor or user
    groups = list(decision.groups)
    now = timezone.now()

    if membership is not None and membership.role.slug == Role.Slug.OWNER:
        # The owner's role never comes from the IdP, and removing them from a
        # group must not lock the organization out of its own console.
        if not decision.allowed:
            return None
        membership.idp_groups = groups
        membership.last_sso_login_at = now
        membership.save(update_fields=["idp_groups", "last_sso_login_at"])
        return membership

    if membership is not None and membership.directory_suspended:
        # The directory deprovisioned them: only the directory brings them
        # back (the sign-in refuses first, with directory_suspended_refusal).
        return None

    if not decision.allowed:
        if membership is not None and membership.is_active:
            membership.is_active = False
            membership.managed_by_idp = True
            membership.idp_groups = groups
            membership.save(update_fields=["is_active", "managed_by_idp", "idp_groups"])
            audit(
                action="membership.deactivated",
                organization=organization,
                actor=actor,
                target=user.email,
                details={
                    "by": "idp",
                    "role": membership.role.slug,
                    "reason": decision.reason,
                    "reason_code": decision.code,
                    "groups_claim": decision.groups_claim_status,
                    "groups": _groups_detail(decision.groups),
                },
                ip=ip,
            )
        return None

    if invited_role is not None:
        invitation_role: str | None = invited_role
    elif membership is not None:
        invitation_role = membership.invited_role or None
    else:
        invitation_role = None
    role = _role(organization, role_for_decision(decision, invitation_role), membership)
    reason, reason_code = role_reason(decision, invitation_role)
    matched = _groups_detail(decision.matched_groups)

    if membership is None:
        source = Membership.Source.INVITATION if invited_role else Membership.Source.SSO
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    user=user,
                    organization=organization,
                    role=role,
                    source=source,
                    managed_by_idp=True,
                    idp_groups=groups,
                    last_sso_login_at=now,
                    invited_role=invited_role or "",
                )
        except IntegrityError:
            # A concurrent first sign-in of the same person created it: update
            # that row instead, under its lock.
            membership = membership_for(organization, user, lock=True)
            if membership is None:  # pragma: no cover (deleted in between)
                raise
        else:
            audit(
                action="membership.provisioned",
                organization=organization,
                actor=actor,
                target=user.email,
                details={
                    "by": "idp",
                    "role": role.slug,
                    "source": source,
                    "reason": reason,
                    "reason_code": reason_code,
                    "matched_groups": matched,
                },
                ip=ip,
            )
            return membership

    before_role = membership.role.slug
    was_active = membership.is_active
    was_managed = membership.managed_by_idp
    membership.role = role
    membership.is_active = True
    membership.managed_by_idp = True
    membership.idp_groups = groups
    membership.last_sso_login_at = now
    if invited_role:
        membership.invited_role = invited_role
    membership.save(
        update_fields=[
            "role",
            "is_active",
            "managed_by_idp",
            "idp_groups",
            "last_sso_login_at",
            "invited_role",
        ]
    )
    if before_role != role.slug:
        audit(
            action="membership.role_changed",
            organization=organization,
            actor=actor,
            target=user.email,
            details={
                "before": before_role,
                "after": role.slug,
                "by": "idp",
                "reason": reason,
                "reason_code": reason_code,
                "matched_groups": matched,
            },
            ip=ip,
        )
    if not was_active:
        audit(
            action="membership.reactivated",
            organization=organization,
            actor=actor,
            target=user.email,
            details={
                "by": "idp",
                "role": role.slug,
                "reason": reason,
                "reason_code": reason_code,
            },
            ip=ip,
        )
    if not was_managed:
        audit(
            action="membership.managed_by_idp",
            organization=organization,
            actor=actor,
            target=user.email,
            details={"role": role.slug},
            ip=ip,
        )
    return membership


# --------------------------------------------------------------------- mappings


def idp_group_clean(raw: str) -> str:
    """Return the group name to store, or raise ServiceError with a sentence.

    Surrounding whitespace is dropped (a pasted name often carries some); inside
    the name, case and spaces are kept: matching is exact.
    """
    name = (raw or "").strip()
    if not name:
        raise ServiceError(
            _(
                "Enter the group's name exactly as your identity provider sends it "
                "in the groups claim, for example 'Engineering'."
            ),
            code="group_name_missing",
        )
    if len(name) > IDP_GROUP_MAX_LENGTH:
        raise ServiceError(
            _("A group name can be at most %(max)d characters long.")
            % {"max": IDP_GROUP_MAX_LENGTH},
            code="group_name_too_long",
        )
    if any(not ch.isprintable() for ch in name):
        raise ServiceError(
            _(
                "The group name contains a control character (a tab or a line "
                "break?). Type it on one line, exactly as the IdP sends it."
            ),
            code="group_name_control_character",
        )
    return name


def grantable_role(organization: Organization, slug: str | None) -> Role:
    """The role ``slug`` names in this organization, refusing the owner role."""
    if slug == Role.Slug.OWNER:
        raise owner_refusal()
    role = Role.objects.filter(organization=organization, slug=slug or "").first()
    if role is None:
        raise role_unknown_refusal()
    return role


@transaction.atomic
def mapping_set(
    *,
    actor_membership: Membership,
    idp_group: str,
    role_slug: str,
    ip: str | None = None,
) -> GroupRoleMapping:
    """Map an IdP group to a role, or change the role it maps to."""
    require_perm(actor_membership, "mappings.manage")
    organization = actor_membership.organization
    name = idp_group_clean(idp_group)
    role = grantable_role(organization, role_slug)
    mapping = (
        GroupRoleMapping.objects.select_for_update(of=("self",))
        .select_related("role")
        .filter(organization=organization, idp_group=name)
        .first()
    )
    if mapping is None:
        try:
            with transaction.atomic():
                mapping = GroupRoleMapping.objects.create(
                    organization=organization, idp_group=name, role=role
                )
        except IntegrityError as exc:
            raise ServiceError(
                _(
                    "The group '%(group)s' was mapped by someone else just now; "
                    "reload the page to see its role."
                )
                % {"group": name},
                code="mapping_conflict",
            ) from exc
        audit(
            action="mapping.created",
            organization=organization,
            actor=actor_membership.user,
            target=name,
            details={"role": role.slug},
            ip=ip,
        )
        return mapping
    before = mapping.role.slug
    if before == role.slug:
        return mapping
    mapping.role = role
    mapping.save(update_fields=["role"])
    audit(
        action="mapping.changed",
        organization=organization,
        actor=actor_membership.user,
        target=name,
        details={"before": before, "after": role.slug},
        ip=ip,
    )
    return mapping


# At most this many names are kept from one sign-in (Graph's pages are bounded
# too); a name is cut to the column's length.
GROUP_NAMES_LIMIT = 2000


@transaction.atomic
def group_names_remember(
    *,
    organization: Organization,
    names: Mapping[str, str],
    actor: Any,
    ip: str | None = None,
) -> int:
    """Remember the names an IdP gave its group identifiers (display only).

    Called with what Microsoft Graph answered during an owner's test sign-in;
    returns how many names were new or changed. Names never decide a role.
    """
    wanted = {
        group[:IDP_GROUP_MAX_LENGTH]: name[:256]
        for group, name in list(names.items())[:GROUP_NAMES_LIMIT]
        if isinstance(group, str) and group and isinstance(name, str) and name
    }
    if not wanted:
        return 0
    known = dict(
        IdpGroupName.objects.filter(organization=organization, idp_group__in=wanted)
        .order_by()
        .values_list("idp_group", "display_name")
    )
    changed = {g: n for g, n in wanted.items() if known.get(g) != n}
    if not changed:
        return 0
    now = timezone.now()
    IdpGroupName.objects.filter(
        organization=organization, idp_group__in=[g for g in changed if g in known]
    ).delete()
    IdpGroupName.objects.bulk_create(
        [
            IdpGroupName(
                organization=organization,
                idp_group=group,
                display_name=name,
                updated_at=now,
            )
            for group, name in changed.items()
        ]
    )
    audit(
        action="mapping.group_names_remembered",
        organization=organization,
        actor=actor,
        target="",
        details={"count": len(changed)},
        ip=ip,
    )
    return len(changed)


@transaction.atomic
def mapping_delete(
    *,
    actor_membership: Membership,
    mapping: GroupRoleMapping,
    ip: str | None = None,
) -> None:
    """Delete a mapping; members of that group get another role on next sign-in."""
    require_perm(actor_membership, "mappings.manage")
    organization = actor_membership.organization
    row = (
        GroupRoleMapping.objects.select_for_update(of=("self",))
        .select_related("role")
        .filter(pk=mapping.pk, organization=organization)
        .first()
    )
    if row is None:
        raise ServiceError(_("This mapping was already deleted."), code="mapping_gone")
    audit(
        action="mapping.deleted",
        organization=organization,
        actor=actor_membership.user,
        target=row.idp_group,
        details={"role": row.role.slug},
        ip=ip,
    )
    row.delete()


@transaction.atomic
def provisioning_settings_update(
    *,
    actor_membership: Membership,
    default_role_slug: str | None,
    only_mapped_groups: bool,
    invitation_only: bool,
    ip: str | None = None,
) -> Organization:
    """Change the default role, "only mapped groups" and "invitation only"."""
    require_perm(actor_membership, "mappings.manage")
    # No key changes: FOR NO KEY UPDATE lets audit rows (FOR KEY SHARE) through.
    organization = Organization.objects.select_for_update(no_key=True).get(
        pk=actor_membership.organization_id
    )
    new_default = (
        grantable_role(organization, default_role_slug) if default_role_slug else None
    )
    before = {
        "default_role": org_default_role_slug(organization),
        "only_mapped_groups": organization.only_mapped_groups,
        "invitation_only": organization.invitation_only,
    }
    after = {
        "default_role": new_default.slug if new_default else None,
        "only_mapped_groups": bool(only_mapped_groups),
        "invitation_only": bool(invitation_only),
    }
    if before == after:
        return organization
    organization.default_role = new_default.slug if new_default else ""
    organization.only_mapped_groups = bool(only_mapped_groups)
    organization.invitation_only = bool(invitation_only)
    organization.save(
        update_fields=["default_role", "only_mapped_groups", "invitation_only"]
    )
    changed = [key for key in after if before[key] != after[key]]
    audit(
        action="provisioning.settings_changed",
        organization=organization,
        actor=actor_membership.user,
        target=organization.login_path,
        details={
            "before": {key: before[key] for key in changed},
            "after": {key: after[key] for key in changed},
        },
        ip=ip,
    )
    return organization


# ---------------------------------------------------------------- impact preview


@dataclass(frozen=True)
class Impact:
    """How a change of mappings or settings would affect IdP-managed members.

    Computed from the groups stored at each active member's last sign-in; the
    change itself takes effect at their next sign-in.
    """

    managed_count: int
    role_changes: list[tuple[str, str, str]] = field(default_factory=list)
    lose_access: list[tuple[str, str]] = field(default_factory=list)

    @property
    def affected_count(self) -> int:
        return len(self.role_changes) + len(self.lose_access)


def impact_preview(
    *,
    organization: Organization,
    mappings: Mapping[str, str],
    default_role: str | None,
    only_mapped_groups: bool,
) -> Impact:
    """Who would change role or lose access under the given settings.

    ``mappings`` is the full after-change {group: role slug}. One query reads
    the members; the caller already holds the mappings. Deactivated members are
    left out: nothing they hold can change until they sign in again.
    """
    after = ProvisioningSettings(
        default_role=default_role,
        only_mapped_groups=only_mapped_groups,
        groups_claim=STORED_GROUPS_CLAIM,
        max_groups=_max_groups(),
    )
    members = managed_members(organization, active_only=True)
    role_changes: list[tuple[str, str, str]] = []
    lose: list[tuple[str, str]] = []
    for member in members:
        decision = roles_from_claims(
            {STORED_GROUPS_CLAIM: list(member.idp_groups)}, mappings, after
        )
        role = role_for_decision(decision, member.invitation_role)
        if role is None:
            lose.append((member.email, decision.reason))
        elif role != member.role:
            role_changes.append((member.email, member.role, role))
    return Impact(
        managed_count=len(members), role_changes=role_changes, lose_access=lose
    )


SEEDED_ROLES = (
    (Role.Slug.OWNER, "Owner", 4),
    (Role.Slug.ADMIN, "Admin", 3),
    (Role.Slug.MEMBER, "Member", 2),
    (Role.Slug.VIEWER, "Viewer", 1),
)


def roles_seed(*, organization: Organization, owner: User, **kwargs: Any) -> None:
    """Seed a new organization's roles and its owner's membership.

    Connected to ``organizations.signals.organization_created``, so it runs in
    the creating transaction.
    """
    roles = Role.objects.bulk_create(
        [
            Role(organization=organization, slug=slug, name=label, rank=rank)
            for slug, label, rank in SEEDED_ROLES
        ]
    )
    Membership.objects.create(
        user=owner,
        organization=organization,
        role=roles[0],
        source=Membership.Source.OWNER,
    )


@transaction.atomic
def membership_change_role(
    *,
    actor_membership: Membership,
    membership: Membership,
    role_slug: str,
    ip: str | None = None,
) -> Membership:
    """Change a member's role by hand (admins and owners)."""
    require_perm(actor_membership, "members.manage")
    membership = (
        Membership.objects.select_for_update()
        .select_related("role", "user")
        .get(pk=membership.pk, organization=actor_membership.organization)
    )
    if membership.role.slug == Role.Slug.OWNER:
        raise ServiceError(
            _("The owner's role cannot be changed."), code="owner_role_fixed"
        )
    if role_slug == Role.Slug.OWNER:
        raise owner_refusal()
    if role_slug not in Role.Slug.values:
        # Checked before any query: a posted value may hold anything, NUL too.
        raise role_unknown_refusal()
    if membership.managed_by_directory:
        raise ServiceError(
            _(
                "%(email)s's role is managed by your user directory (SCIM): it "
                "follows their groups there. Change their groups in the identity "
                "provider, or the group mappings here."
            )
            % {"email": membership.user.email},
            code="role_managed_by_directory",
        )
    if membership.managed_by_idp:
        raise ServiceError(
            _(
                "%(email)s's role is managed by your identity provider: it follows "
                "their groups on every sign-in. Change their groups in the IdP, or "
                "the group mappings here."
            )
            % {"email": membership.user.email},
            code="role_managed_by_idp",
        )
    if (
        actor_membership.role.slug != Role.Slug.OWNER
        and membership.role.slug == Role.Slug.ADMIN
    ):
        raise PermissionDenied(
            _("Only the owner can change an admin's role."), code="admin_owner_only"
        )
    try:
        role = Role.objects.get(organization=membership.organization, slug=role_slug)
    except Role.DoesNotExist as exc:
        raise role_unknown_refusal() from exc
    before = membership.role.slug
    if before == role.slug:
        return membership
    membership.role = role
    membership.save(update_fields=["role"])
    audit(
        action="membership.role_changed",
        organization=membership.organization,
        actor=actor_membership.user,
        target=membership.user.email,
        details={"before": before, "after": role.slug, "by": "hand"},
        ip=ip,
    )
    return membership
