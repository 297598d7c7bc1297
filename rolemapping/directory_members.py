"""Memberships a directory (SCIM) provisions: the role from the directory's
groups, deactivation and the hold that keeps a deprovisioned person out.

The directory app decides *who* (its users and groups); this module decides
*what membership and role* with exactly the rules of a sign-in: the groups go
through ``rolemapping.provisioning.roles_from_claims`` with the organization's
mappings and settings (``decision_for_signin``), and ``role_for_decision``
picks the role. The owner is never deactivated, demoted or promoted by a
directory. Every change is audited with ``details["by"] == "directory"`` and
the token's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from organizations.errors import ServiceError
from organizations.models import Organization
from organizations.services import audit
from rolemapping.models import Membership, Role
from rolemapping.provisioning import Decision
from rolemapping.services import (
    STORED_GROUPS_CLAIM,
    decision_for_signin,
    membership_for,
    role_for_decision,
)

if TYPE_CHECKING:
    from accounts.models import User

__all__ = [
    "DIRECTORY_SUSPENDED_CODE",
    "decision_for_directory",
    "directory_suspended_refusal",
    "membership_directory_deactivate",
    "membership_directory_set",
    "owner_directory_refusal",
]

DIRECTORY_SUSPENDED_CODE = "directory_deactivated"


def directory_suspended_refusal() -> ServiceError:
    """The refusal of a sign-in or invitation of someone the directory
    deactivated or deleted."""
    return ServiceError(
        _(
            "Your access to this organization was removed by its user directory "
            "(SCIM provisioning). Ask your IT administrator to reactivate you in "
            "the identity provider; you can sign in again once they have."
        ),
        code=DIRECTORY_SUSPENDED_CODE,
    )


def owner_directory_refusal() -> ServiceError:
    """The refusal of a directory's attempt to deactivate, delete or demote the
    organization's owner."""
    return ServiceError(
        _(
            "This person owns the organization: a directory cannot deactivate, "
            "delete or change the role of the owner. Unassign them from the app "
            "in the identity provider without deprovisioning, or transfer "
            "ownership first."
        ),
        code="owner_directory_protected",
    )


def decision_for_directory(
    *, organization: Organization, groups: list[str]
) -> Decision:
    """The provisioning decision for a directory's groups: the sign-in's rules,
    fed the groups as if the ID token's groups claim had carried them."""
    return decision_for_signin(
        organization=organization,
        claims={STORED_GROUPS_CLAIM: list(groups)},
        groups_claim=STORED_GROUPS_CLAIM,
    )


def _details(token_name: str, **extra: object) -> dict[str, object]:
    return {"by": "directory", "token": token_name, **extra}


def _is_owner(organization: Organization, user: User, m: Membership | None) -> bool:
    return organization.owner_id == user.pk or (
        m is not None and m.role.slug == Role.Slug.OWNER
    )


# No savepoint of its own: a refusal here ends the caller's whole change.
@transaction.atomic(savepoint=False)
def membership_directory_set(
    *,
    organization: Organization,
    user: User,
    groups: list[str],
    token_name: str,
    refusal_deactivates: bool = True,
    ip: str | None = None,
) -> Membership | None:
    """An active directory user: create, reactivate or re-role the membership
    from ``groups``. A decision that refuses (no mapped group under "only
    mapped groups") deactivates the membership, as a sign-in would, without
    the directory's hold; with ``refusal_deactivates`` off (a user the
    directory has just created, before it pushed their groups) an existing
    membership is left as it is. Returns the membership, None when there is
    none or it is refused.
    """
    membership = membership_for(organization, user, lock=True)
    if _is_owner(organization, user, membership):
        # The owner's role and access never come from a directory.
        return membership
    decision = decision_for_directory(organization=organization, groups=groups)
    matched = list(decision.matched_groups[:20])
    if not decision.allowed:
        if not refusal_deactivates:
            return (
                membership if membership is not None and membership.is_active else None
            )
        if membership is not None and membership.is_active:
            membership.is_active = False
            membership.directory_suspended = False
            membership.managed_by_directory = True
            membership.idp_groups = groups
            membership.save(
                update_fields=[
                    "is_active",
                    "directory_suspended",
                    "managed_by_directory",
                    "idp_groups",
                ]
            )
            audit(
                action="membership.deactivated",
                organization=organization,
                actor=None,
                target=user.email,
                details=_details(
                    token_name, reason=decision.reason, reason_code=decision.code
                ),
                ip=ip,
            )
        return None
    invitation_role = membership.invited_role or None if membership else None
    slug = role_for_decision(decision, invitation_role)
    role = (
        membership.role
        if membership is not None and membership.role.slug == slug
        else Role.objects.get(organization=organization, slug=slug)
    )
    if membership is None:
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    user=user,
                    organization=organization,
                    role=role,
                    source=Membership.Source.SSO,
                    managed_by_idp=True,
                    managed_by_directory=True,
                    idp_groups=groups,
                )
        except IntegrityError:
            membership = membership_for(organization, user, lock=True)
            if membership is None:  # pragma: no cover (deleted in between)
                raise
        else:
            audit(
                action="membership.provisioned",
                organization=organization,
                actor=None,
                target=user.email,
                details=_details(
                    token_name,
                    role=role.slug,
                    reason=decision.reason,
                    reason_code=decision.code,
                    matched_groups=matched,
                ),
                ip=ip,
            )
            return membership
    before_role = membership.role.slug
    was_active = membership.is_active
    changed = (
        before_role != role.slug
        or not was_active
        or membership.directory_suspended
        or not membership.managed_by_directory
        or not membership.managed_by_idp
        or membership.idp_groups != groups
    )
    if not changed:
        return membership
    membership.role = role
    membership.is_active = True
    membership.directory_suspended = False
    membership.managed_by_directory = True
    membership.managed_by_idp = True
    membership.idp_groups = groups
    membership.save(
        update_fields=[
            "role",
            "is_active",
            "directory_suspended",
            "managed_by_directory",
            "managed_by_idp",
            "idp_groups",
        ]
    )
    if before_role != role.slug:
        audit(
            action="membership.role_changed",
            organization=organization,
            actor=None,
            target=user.email,
            details=_details(
                token_name,
                before=before_role,
                after=role.slug,
                reason=decision.reason,
                reason_code=decision.code,
                matched_groups=matched,
            ),
            ip=ip,
        )
    if not was_active:
        audit(
            action="membership.reactivated",
            organization=organization,
            actor=None,
            target=user.email,
            details=_details(token_name, role=role.slug),
            ip=ip,
        )
    return membership


@transaction.atomic(savepoint=False)
def membership_directory_deactivate(
    *,
    organization: Organization,
    user: User,
    token_name: str,
    deleted: bool = False,
    ip: str | None = None,
) -> Membership | None:
    """The directory deactivated (``active: false``) or deleted this person:
    the membership is deactivated and held (``directory_suspended``) until the
    directory reactivates them. Refuses the owner (ServiceError
    ``owner_directory_protected``). The caller ends their sessions."""
    membership = membership_for(organization, user, lock=True)
    if _is_owner(organization, user, membership):
        raise owner_directory_refusal()
    if membership is None:
        return None
    if membership.directory_suspended and not membership.is_active:
        return membership
    membership.is_active = False
    membership.directory_suspended = True
    membership.managed_by_directory = True
    membership.save(
        update_fields=["is_active", "directory_suspended", "managed_by_directory"]
    )
    audit(
        action="membership.deactivated",
        organization=organization,
        actor=None,
        target=user.email,
        details=_details(token_name, role=membership.role.slug, deleted=deleted),
        ip=ip,
    )
    return membership
