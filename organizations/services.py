"""Organizations: creation, login paths, permission checks and the audit log."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from organizations.errors import AddressUnproven, PermissionDenied, ServiceError
from organizations.models import AuditEvent, Organization
from organizations.permissions import address_allows, role_has_perm
from organizations.signals import organization_created
from organizations.text import name_clean

if TYPE_CHECKING:
    from accounts.models import User
    from rolemapping.models import Membership

LOGIN_PATH_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
RESERVED_LOGIN_PATHS = frozenset(
    {
        "admin",
        "api",
        "accounts",
        "account",
        "auth",
        "login",
        "logout",
        "signup",
        "sso",
        "oidc",
        "orgs",
        "org",
        "static",
        "media",
        "www",
        "help",
        "support",
        "settings",
        "console",
        "callback",
        "healthz",
        "readyz",
        "invitations",
        "new",
        "edit",
        "test",
        "root",
        "system",
        "default",
        "okta",
        "null",
    }
)


def login_path_lookup(raw: str) -> str | None:
    """The stored form of a login path from a URL, or None when no organization
    could have it (so it never reaches the database: PostgreSQL refuses NUL)."""
    value = raw.lower()
    return value if len(value) <= 40 and LOGIN_PATH_RE.match(value) else None


def login_path_validate(raw: str) -> str:
    """Return the normalised login path, or raise ServiceError with a sentence."""
    value = (raw or "").strip().lower()
    if not 3 <= len(value) <= 40:
        raise ServiceError(
            _("The login path must be 3 to 40 characters long, for example 'acme'."),
            code="login_path_length",
        )
    if not LOGIN_PATH_RE.match(value):
        raise ServiceError(
            _(
                "The login path may use only a-z, 0-9 and '-', and must start and "
                "end with a letter or digit, for example 'acme-corp'."
            ),
            code="login_path_characters",
        )
    if value in RESERVED_LOGIN_PATHS:
        raise ServiceError(
            _(
                "'%(path)s' is reserved for the console's own pages; choose another "
                "login path, such as your company's name."
            )
            % {"path": value},
            code="login_path_reserved",
        )
    if Organization.objects.annotate(lp=Lower("login_path")).filter(lp=value).exists():
        raise ServiceError(
            _(
                "The login path '%(path)s' is taken by another organization (login "
                "paths are compared without regard to case); choose another."
            )
            % {"path": value},
            code="login_path_taken",
        )
    return value


def organization_name_validate(raw: str) -> str:
    """Return the organization name, or raise ServiceError with a sentence."""
    if not (raw or "").strip():
        raise ServiceError(
            _("Give the organization a name, as your team knows it."),
            code="name_missing",
        )
    return name_clean(raw, what=_("organization"))


@transaction.atomic
def organization_create(
    *,
    name: str,
    login_path: str,
    owner: User,
    actor: User | None = None,
    ip: str | None = None,
) -> Organization:
    """Create an organization; receivers of ``organization_created`` (rolemapping)
    seed its roles and its owner's membership in the same transaction."""
    name = organization_name_validate(name)
    path = login_path_validate(login_path)
    try:
        with transaction.atomic():
            org = Organization.objects.create(name=name, login_path=path, owner=owner)
    except IntegrityError as exc:  # a concurrent create won the race
        raise ServiceError(
            _("The login path '%(path)s' was just taken; choose another.")
            % {"path": path},
            code="login_path_taken",
        ) from exc
    # rolemapping seeds the roles and the owner's membership, in this transaction.
    organization_created.send(sender=Organization, organization=org, owner=owner)
    audit(
        action="organization.created",
        organization=org,
        actor=actor or owner,
        target=org.login_path,
        details={"name": org.name, "owner": owner.email},
        ip=ip,
    )
    return org


def role_refusal() -> str:
    """The sentence for a member whose role lacks a permission (services and
    pages alike)."""
    return _(
        "Your role in this organization does not allow this. Ask an owner or an admin."
    )


def require_perm(membership: Membership, perm: str) -> None:
    """Refuse unless the member's role holds ``perm`` and, for what decides who
    gets in, their address is proven (AddressUnproven says how to prove it)."""
    if not membership.is_active or not role_has_perm(membership.role.slug, perm):
        raise PermissionDenied(role_refusal(), code="role_not_allowed")
    if not address_allows(membership.user, perm):
        raise AddressUnproven(membership.user.email)


def support_has_perm(user: User, perm: str) -> bool:
    """Whether ``user`` may act as support staff, from the Django admin, with
    the Django permission ``perm`` (e.g. ``"connections.change_connection"``).

    Support staff are not members of the organizations they help; services
    that accept them audit ``actor=user`` with ``details={"by": "support"}``.
    """
    return bool(user.is_active and user.is_staff and user.has_perm(perm))


def support_refusal(perm: str) -> str:
    """The sentence for a staff user without the Django permission ``perm``."""
    return _(
        "Only active support staff with the Django permission '%(perm)s' can do "
        "this. Ask a superuser to grant it."
    ) % {"perm": perm}


def require_support(user: User, perm: str) -> None:
    if not support_has_perm(user, perm):
        raise PermissionDenied(support_refusal(perm), code="not_support_staff")


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
