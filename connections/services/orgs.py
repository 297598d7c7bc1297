"""Organizations, owners and memberships."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from rolemapping.models import Membership, Role
from rolemapping.permissions import role_has_perm

from ..errors import PermissionDenied, ServiceError
from ..models import Organization, User
from .audit import audit

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
SEEDED_ROLES = (
    (Role.Slug.OWNER, "Owner", 4),
    (Role.Slug.ADMIN, "Admin", 3),
    (Role.Slug.MEMBER, "Member", 2),
    (Role.Slug.VIEWER, "Viewer", 1),
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
            "The login path must be 3 to 40 characters long, for example 'acme'."
        )
    if not LOGIN_PATH_RE.match(value):
        raise ServiceError(
            "The login path may use only a-z, 0-9 and '-', and must start and end "
            "with a letter or digit, for example 'acme-corp'."
        )
    if value in RESERVED_LOGIN_PATHS:
        raise ServiceError(
            f"'{value}' is reserved for the console's own pages; choose another "
            "login path, such as your company's name."
        )
    if Organization.objects.annotate(lp=Lower("login_path")).filter(lp=value).exists():
        raise ServiceError(
            f"The login path '{value}' is taken by another organization (login "
            "paths are compared without regard to case); choose another."
        )
    return value


@transaction.atomic
def organization_create(
    *,
    name: str,
    login_path: str,
    owner: User,
    actor: User | None = None,
    ip: str | None = None,
) -> Organization:
    """Create an organization with its seeded roles and its owner's membership."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the organization a name, as your team knows it.")
    if len(name) > 100:
        raise ServiceError("The organization name must be at most 100 characters.")
    path = login_path_validate(login_path)
    try:
        with transaction.atomic():
            org = Organization.objects.create(name=name, login_path=path, owner=owner)
    except IntegrityError as exc:  # a concurrent create won the race
        raise ServiceError(
            f"The login path '{path}' was just taken; choose another."
        ) from exc
    roles = Role.objects.bulk_create(
        [
            Role(organization=org, slug=slug, name=label, rank=rank)
            for slug, label, rank in SEEDED_ROLES
        ]
    )
    Membership.objects.create(
        user=owner, organization=org, role=roles[0], source=Membership.Source.OWNER
    )
    audit(
        action="organization.created",
        organization=org,
        actor=actor or owner,
        target=org.login_path,
        details={"name": org.name, "owner": owner.email},
        ip=ip,
    )
    return org


def user_validate_email_free(email: str) -> str:
    email = (email or "").strip().lower()
    if User.objects.filter(email=email).exists():
        raise ServiceError(
            "An account with this email already exists. Sign in instead, or reset "
            "your password if you have forgotten it."
        )
    return email


@transaction.atomic
def owner_signup(
    *, email: str, password: str, org_name: str, login_path: str, ip: str | None
) -> tuple[User, Organization]:
    """Create the owner's account and their organization in one step."""
    email = user_validate_email_free(email)
    user = User.objects.create_user(email=email, password=password)
    audit(
        action="user.signed_up",
        organization=None,
        actor=user,
        target=user.email,
        ip=ip,
    )
    org = organization_create(
        name=org_name, login_path=login_path, owner=user, actor=user, ip=ip
    )
    return user, org


def require_perm(membership: Membership, perm: str) -> None:
    if not membership.is_active or not role_has_perm(membership.role.slug, perm):
        raise PermissionDenied(
            "Your role in this organization does not allow this. Ask an owner or admin."
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
        raise ServiceError("The owner's role cannot be changed.")
    if role_slug == Role.Slug.OWNER:
        raise ServiceError("There is exactly one owner; the owner role is not given.")
    if role_slug not in Role.Slug.values:
        # Checked before any query: a posted value may hold anything, NUL too.
        raise ServiceError("There is no such role. Choose admin, member or viewer.")
    if membership.managed_by_idp:
        raise ServiceError(
            f"{membership.user.email}'s role is managed by your identity provider: "
            "it follows their groups on every sign-in. Change their groups in the "
            "IdP, or the group mappings here."
        )
    if (
        actor_membership.role.slug != Role.Slug.OWNER
        and membership.role.slug == Role.Slug.ADMIN
    ):
        raise ServiceError("Only the owner can change an admin's role.")
    try:
        role = Role.objects.get(organization=membership.organization, slug=role_slug)
    except Role.DoesNotExist as exc:
        raise ServiceError("There is no such role in this organization.") from exc
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
