"""Directory sync: SCIM tokens, and the users and groups a directory pushes.

Every change is one function that writes its audit row (the token's name as
the actor: ``details["by"] == "directory"``, ``details["token"]``) in the
same transaction. Memberships and roles are rolemapping's
(``rolemapping.directory_members``), decided with the sign-in's rules;
deprovisioning ends the person's sessions in the organization
(``accounts.sessions.sessions_end``).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User, canonical_email
from accounts.sessions import sessions_end
from directory.models import ScimGroup, ScimToken, ScimUser
from domains.names import email_domain
from domains.services import org_has_verified_domain
from organizations.errors import ServiceError
from organizations.models import Organization
from organizations.services import audit, require_perm
from organizations.text import name_clean
from rolemapping.directory_members import (
    membership_directory_deactivate,
    membership_directory_set,
)
from rolemapping.models import Membership

__all__ = [
    "DirectoryRefused",
    "ScimUserFields",
    "ScimGroupFields",
    "scim_group_create",
    "scim_group_delete",
    "scim_group_replace",
    "scim_user_create",
    "scim_user_delete",
    "scim_user_replace",
    "token_authenticate",
    "token_create",
    "token_rate_exceeded",
    "token_revoke",
]

TOKEN_PREFIX = "scim_"
TOKEN_NAME_MAX = 100
LAST_USED_EVERY = timedelta(minutes=1)


class DirectoryRefused(ServiceError):
    """A refusal of a directory's request: a sentence, a code, and how SCIM
    says it (an HTTP status and a ``scimType``)."""

    default_code: ClassVar[str] = "directory_refused"

    def __init__(
        self, message: str, *, code: str, status: int = 400, scim_type: str = ""
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.scim_type = scim_type


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


# ------------------------------------------------------------------- tokens


@transaction.atomic
def token_create(
    *, actor_membership: Membership, name: str, ip: str | None = None
) -> tuple[ScimToken, str]:
    """Create a SCIM token; returns the row and the token, which is shown
    once and never stored."""
    require_perm(actor_membership, "directory.manage")
    if not (name or "").strip():
        raise ServiceError(
            _("Name the token after the directory that will use it, e.g. 'Okta'."),
            code="token_name_missing",
        )
    clean = name_clean(name, what=_("token"))[:TOKEN_NAME_MAX]
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    organization = actor_membership.organization
    token = ScimToken.objects.create(
        organization=organization,
        name=clean,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        token_hash=token_digest(raw),
        created_by=actor_membership.user,
    )
    audit(
        action="directory.token_created",
        organization=organization,
        actor=actor_membership.user,
        target=clean,
        details={"token_id": token.pk, "prefix": token.prefix},
        ip=ip,
    )
    return token, raw


@transaction.atomic
def token_revoke(
    *, actor_membership: Membership, token_id: int, ip: str | None = None
) -> ScimToken:
    """Revoke a token: the directory using it is refused from its next request."""
    require_perm(actor_membership, "directory.manage")
    organization = actor_membership.organization
    token = (
        ScimToken.objects.select_for_update()
        .filter(pk=token_id, organization=organization)
        .first()
    )
    if token is None:
        raise ServiceError(_("There is no such token."), code="token_unknown")
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit(
        action="directory.token_revoked",
        organization=organization,
        actor=actor_membership.user,
        target=token.name,
        details={"token_id": token.pk, "prefix": token.prefix},
        ip=ip,
    )
    return token


def token_authenticate(*, login_path: str, raw: str) -> ScimToken | None:
    """The live token ``raw`` names for this organization's base URL, or None.

    One indexed look-up by the token's digest (so no comparison of the secret
    itself runs in Python); a token of another organization, or a revoked one,
    is None. Records the last use at most once a minute.
    """
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ScimToken.objects.select_related("organization")
        .filter(token_hash=token_digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or token.organization.login_path != login_path:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_rate_exceeded(token: ScimToken) -> bool:
    """Count this request against the token's limit per minute (in the shared
    cache, atomically); True when it is over."""
    limit = int(settings.SCIM_RATE_LIMIT_PER_MINUTE)
    key = f"scim:rate:{token.pk}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=120)
        count = 1
    return count > limit


# -------------------------------------------------------------------- users


@dataclass(frozen=True)
class ScimUserFields:
    """What this product keeps of a SCIM User, read from the resource."""

    user_name: str
    external_id: str
    given_name: str
    family_name: str
    display_name: str
    active: bool | None


@dataclass(frozen=True)
class ScimGroupFields:
    display_name: str
    external_id: str
    member_ids: tuple[str, ...]


def _details(token: ScimToken, **extra: Any) -> dict[str, Any]:
    return {"by": "directory", "token": token.name, **extra}


def _address(user_name: str, organization: Organization) -> str:
    """The canonical address of a userName, refused unless it is a plain
    address in a domain this organization verified."""
    email = canonical_email(user_name)
    domain = email_domain(email) if email.isascii() and len(email) <= 254 else None
    if domain is None:
        raise DirectoryRefused(
            _("userName must be the person's email address, e.g. ada@example.com."),
            code="scim_username_not_email",
            scim_type="invalidValue",
        )
    if not org_has_verified_domain(organization, domain, lock=True):
        raise DirectoryRefused(
            _(
                "%(domain)s is not a verified domain of this organization, so a "
                "directory cannot provision addresses in it. Verify the domain on "
                "the console's Domains page first."
            )
            % {"domain": domain},
            code="scim_domain_unverified",
            scim_type="invalidValue",
        )
    return email


def _account_for(email: str, fields: ScimUserFields) -> User:
    """The account of this address, created without a password when there is
    none: its first SSO sign-in links the identity and proves the address."""
    user = User.objects.filter(email=email).first()
    if user is None:
        name = fields.display_name or " ".join(
            part for part in (fields.given_name, fields.family_name) if part
        )
        try:
            with transaction.atomic():
                return User.objects.create_user(email=email, name=name[:150])
        except IntegrityError:
            user = User.objects.get(email=email)
    if user.is_staff or user.is_superuser:
        raise DirectoryRefused(
            _("This address belongs to a staff account of this console."),
            code="scim_staff_account",
            scim_type="invalidValue",
        )
    if user.has_usable_password() and user.email_verified_at is None:
        # Whoever chose that password never proved the address: a directory
        # must not hand them this organization (docs/ARCHITECTURE.md).
        raise DirectoryRefused(
            _(
                "An account with this address exists whose address was never "
                "confirmed. The person can claim it with a password reset; "
                "provisioning will work after that."
            ),
            code="scim_unproven_account",
            scim_type="invalidValue",
        )
    return user


def user_groups(scim_user: ScimUser) -> list[str]:
    """The group names (and external ids) a directory user belongs to, as
    the role mapping reads them: a mapping may name a group by either."""
    names: dict[str, None] = {}
    for display_name, external_id in scim_user.groups.values_list(
        "display_name", "external_id"
    ):
        names[display_name] = None
        if external_id:
            names[external_id] = None
    return list(names)


def _membership_sync(
    token: ScimToken, scim_user: ScimUser, ip: str | None, *, new: bool = False
) -> None:
    organization = token.organization
    if scim_user.active:
        kept = membership_directory_set(
            organization=organization,
            user=scim_user.user,
            # A user just created is in no group yet: Okta and Entra push
            # groups after users, so that is no reason to take access away.
            groups=[] if new else user_groups(scim_user),
            token_name=token.name,
            refusal_deactivates=not new,
            ip=ip,
        )
        if kept is None and not new:
            # Their groups no longer let them in: as a deactivation, at once.
            sessions_end(organization_id=organization.pk, user_id=scim_user.user_id)
        return
    membership_directory_deactivate(
        organization=organization, user=scim_user.user, token_name=token.name, ip=ip
    )
    sessions_end(organization_id=organization.pk, user_id=scim_user.user_id)


def _owner_refusal_as_scim(exc: ServiceError) -> DirectoryRefused:
    return DirectoryRefused(
        str(exc), code="scim_owner_protected", status=403, scim_type="mutability"
    )


@transaction.atomic
def scim_user_create(
    *, token: ScimToken, fields: ScimUserFields, ip: str | None = None
) -> ScimUser:
    """Provision a user: the account of the address (created if needed) and,
    through the group mappings, a membership managed by the directory."""
    organization = token.organization
    email = _address(fields.user_name, organization)
    if ScimUser.objects.filter(organization=organization, user_name_key=email).exists():
        raise DirectoryRefused(
            _("A user with this userName is already provisioned."),
            code="scim_user_exists",
            status=409,
            scim_type="uniqueness",
        )
    user = _account_for(email, fields)
    try:
        # No savepoint: a conflict ends this whole create.
        row = ScimUser.objects.create(
            organization=organization,
            user=user,
            user_name=fields.user_name.strip()[:254],
            user_name_key=email,
            external_id=fields.external_id,
            given_name=fields.given_name,
            family_name=fields.family_name,
            display_name=fields.display_name,
            active=fields.active is not False,
        )
    except IntegrityError as exc:  # a concurrent retry of the same POST
        raise DirectoryRefused(
            _("A user with this userName is already provisioned."),
            code="scim_user_exists",
            status=409,
            scim_type="uniqueness",
        ) from exc
    audit(
        action="directory.user_created",
        organization=organization,
        actor=None,
        target=email,
        details=_details(token, scim_id=str(row.pk), active=row.active),
        ip=ip,
    )
    try:
        _membership_sync(token, row, ip, new=True)
    except ServiceError as exc:
        raise _owner_refusal_as_scim(exc) from exc
    return row


@transaction.atomic
def scim_user_replace(
    *,
    token: ScimToken,
    scim_user: ScimUser,
    fields: ScimUserFields,
    ip: str | None = None,
) -> ScimUser:
    """Replace a user's attributes (PUT, or a PATCH already applied).
    ``active: false`` deactivates the membership and ends the person's
    sessions in the organization; ``true`` gives access back."""
    organization = token.organization
    row = (
        ScimUser.objects.select_for_update()
        .select_related("user")
        .get(pk=scim_user.pk, organization=organization)
    )
    if canonical_email(fields.user_name) != row.user_name_key:
        raise DirectoryRefused(
            _(
                "userName is the person's email address and cannot change here. "
                "Deprovision this user and provision the new address."
            ),
            code="scim_username_immutable",
            scim_type="mutability",
        )
    active = row.active if fields.active is None else fields.active
    changed = {
        name: value
        for name, value in (
            ("user_name", fields.user_name.strip()[:254]),
            ("external_id", fields.external_id),
            ("given_name", fields.given_name),
            ("family_name", fields.family_name),
            ("display_name", fields.display_name),
            ("active", active),
        )
        if getattr(row, name) != value
    }
    if not changed:
        return row
    for name, value in changed.items():
        setattr(row, name, value)
    row.updated_at = timezone.now()
    row.save(update_fields=[*changed, "updated_at"])
    audit(
        action="directory.user_updated",
        organization=organization,
        actor=None,
        target=row.user_name_key,
        details=_details(token, scim_id=str(row.pk), changed=sorted(changed)),
        ip=ip,
    )
    if "active" in changed:
        try:
            _membership_sync(token, row, ip)
        except ServiceError as exc:
            raise _owner_refusal_as_scim(exc) from exc
    return row


@transaction.atomic
def scim_user_delete(
    *, token: ScimToken, scim_user: ScimUser, ip: str | None = None
) -> None:
    """Deprovision a user: the membership is deactivated and held until a
    directory provisions them again; their sessions here end at once."""
    organization = token.organization
    row = (
        ScimUser.objects.select_for_update()
        .select_related("user")
        .get(pk=scim_user.pk, organization=organization)
    )
    try:
        membership_directory_deactivate(
            organization=organization,
            user=row.user,
            token_name=token.name,
            deleted=True,
            ip=ip,
        )
    except ServiceError as exc:
        raise _owner_refusal_as_scim(exc) from exc
    audit(
        action="directory.user_deleted",
        organization=organization,
        actor=None,
        target=row.user_name_key,
        details=_details(token, scim_id=str(row.pk)),
        ip=ip,
    )
    user_id = row.user_id
    row.delete()
    sessions_end(organization_id=organization.pk, user_id=user_id)


# ------------------------------------------------------------------- groups


def _group_name(raw: str) -> str:
    name = (raw or "").strip()
    if not name or len(name) > 255 or any(not ch.isprintable() for ch in name):
        raise DirectoryRefused(
            _("displayName must be 1 to 255 printable characters."),
            code="scim_group_name_invalid",
            scim_type="invalidValue",
        )
    return name


def _members_of(organization: Organization, ids: tuple[str, ...]) -> list[ScimUser]:
    """The organization's directory users among ``ids``; ids that name none
    (not a UUID, another organization's, deleted) are skipped, as Okta and
    Entra expect of a member that failed to provision."""
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except (ValueError, AttributeError, TypeError):
            continue
    return list(
        ScimUser.objects.select_related("user").filter(
            organization=organization, pk__in=valid
        )
    )


def _resync(token: ScimToken, users: list[ScimUser], ip: str | None) -> None:
    """Re-decide the role of each active member whose groups changed.

    Memberships are locked in the order of their person's id, so two group
    changes of the same people (Entra sends them in parallel) never wait
    for each other in a cycle."""
    unique = {scim_user.pk: scim_user for scim_user in users}
    for scim_user in sorted(unique.values(), key=lambda row: row.user_id):
        if scim_user.active:
            _membership_sync(token, scim_user, ip)


@transaction.atomic
def scim_group_create(
    *, token: ScimToken, fields: ScimGroupFields, ip: str | None = None
) -> ScimGroup:
    organization = token.organization
    name = _group_name(fields.display_name)
    members = _members_of(organization, fields.member_ids)
    try:
        with transaction.atomic():
            group = ScimGroup.objects.create(
                organization=organization,
                display_name=name,
                external_id=fields.external_id[:255],
            )
    except IntegrityError as exc:
        raise DirectoryRefused(
            _("A group with this displayName is already provisioned."),
            code="scim_group_exists",
            status=409,
            scim_type="uniqueness",
        ) from exc
    group.members.set(members)
    audit(
        action="directory.group_created",
        organization=organization,
        actor=None,
        target=name,
        details=_details(token, scim_id=str(group.pk), members=len(members)),
        ip=ip,
    )
    _resync(token, members, ip)
    return group


@transaction.atomic
def scim_group_replace(
    *,
    token: ScimToken,
    group: ScimGroup,
    fields: ScimGroupFields,
    ip: str | None = None,
) -> ScimGroup:
    """Replace a group's name, external id and members (PUT, or a PATCH
    already applied); members whose groups changed get their role again."""
    organization = token.organization
    row = ScimGroup.objects.select_for_update().get(
        pk=group.pk, organization=organization
    )
    name = _group_name(fields.display_name)
    before = {
        member.pk: member for member in row.members.select_related("user").order_by()
    }
    after = {
        member.pk: member for member in _members_of(organization, fields.member_ids)
    }
    renamed = name != row.display_name or fields.external_id != row.external_id
    if renamed:
        if (
            ScimGroup.objects.filter(organization=organization, display_name=name)
            .exclude(pk=row.pk)
            .exists()
        ):
            raise DirectoryRefused(
                _("A group with this displayName is already provisioned."),
                code="scim_group_exists",
                status=409,
                scim_type="uniqueness",
            )
        row.display_name = name
        row.external_id = fields.external_id[:255]
    added = [after[pk] for pk in after.keys() - before.keys()]
    removed = [before[pk] for pk in before.keys() - after.keys()]
    if not renamed and not added and not removed:
        return row
    row.updated_at = timezone.now()
    row.save(update_fields=["display_name", "external_id", "updated_at"])
    if added:
        row.members.add(*added)
    if removed:
        row.members.remove(*removed)
    audit(
        action="directory.group_updated",
        organization=organization,
        actor=None,
        target=row.display_name,
        details=_details(
            token,
            scim_id=str(row.pk),
            renamed=renamed,
            added=[m.user_name_key for m in added[:20]],
            removed=[m.user_name_key for m in removed[:20]],
        ),
        ip=ip,
    )
    affected = list(after.values()) if renamed else added
    _resync(token, [*affected, *removed], ip)
    return row


@transaction.atomic
def scim_group_delete(
    *, token: ScimToken, group: ScimGroup, ip: str | None = None
) -> None:
    organization = token.organization
    row = ScimGroup.objects.select_for_update().get(
        pk=group.pk, organization=organization
    )
    members = list(row.members.select_related("user").order_by())
    audit(
        action="directory.group_deleted",
        organization=organization,
        actor=None,
        target=row.display_name,
        details=_details(token, scim_id=str(row.pk), members=len(members)),
        ip=ip,
    )
    row.delete()
    _resync(token, members, ip)
