"""The look-up Okta makes before every create (``userName eq``) is one
indexed query, whatever the number of members; a SCIM request adds one query
for its token."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.db import connection

from accounts.models import User
from directory.models import ScimUser
from directory.selectors import scim_users_page
from tests.directory.conftest import DOMAIN, user_body

pytestmark = pytest.mark.django_db


def many_users(org, count: int) -> None:
    users = User.objects.bulk_create(
        [User(email=f"p{n}@{DOMAIN}") for n in range(count)]
    )
    ScimUser.objects.bulk_create(
        [
            ScimUser(
                organization=org,
                user=user,
                user_name=user.email,
                user_name_key=user.email,
            )
            for user in users
        ]
    )


@pytest.mark.parametrize("members", [1, 500])
def test_the_username_lookup_is_one_query_at_any_size(
    scim, org, members, django_assert_num_queries
):
    many_users(org, members)

    with django_assert_num_queries(1):
        rows, total = scim_users_page(org, {"userName": f"P0@{DOMAIN}"}, 1, 2)

    assert total == 1 and rows[0].user_name_key == f"p0@{DOMAIN}"


def test_a_lookup_request_costs_the_token_and_the_lookup(
    scim, org, django_assert_num_queries
):
    many_users(org, 50)
    scim.get("Users?count=1")  # records the token's last use (once a minute)
    path = (
        "Users?filter=" + quote(f'userName eq "p7@{DOMAIN}"') + "&startIndex=1&count=2"
    )

    with django_assert_num_queries(2):
        response = scim.get(path)

    assert response.json()["totalResults"] == 1


def test_the_lookup_uses_the_unique_index_on_the_username(scim, org):
    many_users(org, 200)
    rows = ScimUser.objects.filter(
        organization=org, user_name_key=f"p1@{DOMAIN}"
    ).order_by()

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Fresh tables have no statistics: let the planner see the rows.
            cursor.execute("ANALYZE directory_scimuser")
        plan = rows.explain()
        assert "scim_user_unique_username" in plan
    else:
        plan = rows.explain()
        assert "USING INDEX" in plan and "user_name_key=?" in plan


def test_creating_a_user_costs_a_bounded_number_of_queries(
    scim, org, django_assert_max_num_queries
):
    scim.get("Users?count=1")
    # Token; domain; taken?; account; insert it; the user; audit; membership
    # (locked read, mappings, role, insert, audit); savepoints.
    with django_assert_max_num_queries(18):
        assert scim.post("Users", user_body(f"ada@{DOMAIN}")).status_code == 201
