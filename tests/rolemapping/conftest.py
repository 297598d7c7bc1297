"""Fixtures for the role-mapping tests."""

import pytest

from rolemapping.models import GroupRoleMapping, Role
from tests.factories import make_member, make_user


@pytest.fixture
def admin(org):
    return make_member(org, "admin")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin.user, backend="accounts.backends.EmailPasswordBackend")
    return client


@pytest.fixture
def map_group():
    """Create a mapping directly (the service is tested on its own)."""

    def make(org, group: str, role: str) -> GroupRoleMapping:
        return GroupRoleMapping.objects.create(
            organization=org,
            idp_group=group,
            role=Role.objects.get(organization=org, slug=role),
        )

    return make


@pytest.fixture
def managed_member():
    """A member provisioned by the IdP, with the groups of their last sign-in."""

    def make(org, role: str, groups, *, email=None, is_active=True):
        return make_member(
            org,
            role,
            user=make_user(email) if email else None,
            source="sso",
            managed_by_idp=True,
            idp_groups=list(groups),
            is_active=is_active,
        )

    return make
