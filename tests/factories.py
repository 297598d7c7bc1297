"""Plain factories for test data; they go through the services where one exists."""

from __future__ import annotations

import itertools

from django.utils import timezone

from accounts.models import User
from organizations.models import Organization
from organizations.services import organization_create
from rolemapping.models import Membership, Role

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


def make_user(
    email: str | None = None, password: str = PASSWORD, *, proven: bool = True
) -> User:
    """An account; its address is proven unless ``proven`` is False (as after
    a sign-up whose link was never opened)."""
    email = email or f"user{next(_seq)}@example.test"
    return User.objects.create_user(
        email=email,
        password=password,
        email_verified_at=timezone.now() if proven else None,
    )


def make_org(
    login_path: str | None = None, owner: User | None = None, name: str | None = None
) -> Organization:
    n = next(_seq)
    login_path = login_path or f"org-{n}"
    owner = owner or make_user(f"owner-{login_path}@example.test")
    return organization_create(
        name=name or f"Org {n}", login_path=login_path, owner=owner
    )


def make_member(
    org: Organization,
    role: str = "member",
    user: User | None = None,
    source: str = Membership.Source.INVITATION,
    **fields,
) -> Membership:
    user = user or make_user()
    return Membership.objects.create(
        user=user,
        organization=org,
        role=Role.objects.get(organization=org, slug=role),
        source=source,
        **fields,
    )
