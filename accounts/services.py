"""Accounts: the owner's sign-up, which creates the person and the organization."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User, canonical_email
from organizations.errors import ServiceError
from organizations.models import Organization
from organizations.services import audit, organization_create


def user_validate_email_free(email: str) -> str:
    email = canonical_email(email)
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


@transaction.atomic
def user_email_prove(*, user: User, via: str, ip: str | None = None) -> bool:
    """Record that ``user``'s address is proven, ``via`` one of: email_link,
    invitation, password_reset, sso, operator. Audited once; False when it was
    proven already."""
    now = timezone.now()
    updated = User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
        email_verified_at=now
    )
    if not updated:
        return False
    user.email_verified_at = now
    audit(
        action="user.email_proven",
        organization=None,
        actor=user,
        target=user.email,
        details={"via": via},
        ip=ip,
    )
    return True
