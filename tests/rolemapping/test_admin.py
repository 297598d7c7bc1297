"""The Django admin for support staff: roles, memberships and group mappings,
read-only.

This package's conftest makes ``admin_client`` an organization admin in the
console; these tests need pytest-django's superuser, hence ``staff_client``.
"""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from rolemapping.models import GroupRoleMapping, Membership, Role
from tests.admin_pages import (
    assert_constant_changelist_queries,
    change_url,
    changelist_url,
    page,
)
from tests.factories import make_member, make_org, make_user

_n = itertools.count(1)


@pytest.fixture
def staff_client(admin_user):
    client = Client()
    client.force_login(admin_user, backend="accounts.backends.EmailPasswordBackend")
    return client


def test_membership_pages_render_and_search_by_email_and_organization(
    staff_client, org, other_org
):
    ada = make_member(org, "admin", user=make_user("ada@acme.test"))
    make_member(other_org, "member", user=make_user("ada@globex.test"))
    response = staff_client.get(changelist_url(Membership), {"q": "ada@acme"})
    assert list(response.context["cl"].result_list) == [ada]
    response = staff_client.get(
        changelist_url(Membership), {"q": "globex", "role__slug": "owner"}
    )
    assert [m.user for m in response.context["cl"].result_list] == [other_org.owner]
    page(staff_client, change_url(ada))
    response = staff_client.post(change_url(ada), {"is_active": ""})
    assert response.status_code == 403
    assert Membership.objects.get(pk=ada.pk).is_active


def test_role_and_mapping_pages_render_and_search(staff_client, org, other_org):
    role = Role.objects.get(organization=org, slug="admin")
    mapping = GroupRoleMapping.objects.create(
        organization=org, idp_group="Engineering", role=role
    )
    response = staff_client.get(changelist_url(GroupRoleMapping), {"q": "engineer"})
    assert list(response.context["cl"].result_list) == [mapping]
    response = staff_client.get(changelist_url(Role), {"q": "acme"})
    assert {r.organization for r in response.context["cl"].result_list} == {org}
    page(staff_client, change_url(mapping))
    page(staff_client, change_url(role))


def test_rolemapping_changelists_cost_the_same_with_1_and_20_rows(
    staff_client, org, django_assert_max_num_queries
):
    def mapping():
        return GroupRoleMapping.objects.create(
            organization=org,
            idp_group=f"group-{next(_n)}",
            role=Role.objects.get(organization=org, slug="member"),
        )

    rows = {
        Role: make_org,
        Membership: lambda: make_member(org),
        GroupRoleMapping: mapping,
    }
    for model, make_row in rows.items():
        assert_constant_changelist_queries(
            staff_client, model, make_row, django_assert_max_num_queries
        )
