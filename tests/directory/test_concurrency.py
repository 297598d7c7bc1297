"""Okta and Entra ID retry, and Entra sends group changes in parallel: on
PostgreSQL, with every row lock really taken, simultaneous requests never
answer 500 and leave one row per person."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db_connection
from django.test import Client

from directory.models import ScimGroup, ScimUser
from rolemapping.models import Membership
from tests.directory.conftest import DOMAIN, Scim, user_body

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

ROUNDS = 5


def at_once(*calls) -> list[int]:
    """Each call in its own thread and database connection, released
    together; their status codes in order (599 for an exception)."""
    gate = threading.Barrier(len(calls))
    codes = [0] * len(calls)

    def run(position: int, call) -> None:
        try:
            gate.wait()
            codes[position] = call().status_code
        except Exception:
            codes[position] = 599
        finally:
            db_connection.close()

    threads = [
        threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return codes


def test_a_create_sent_twice_at_once_is_one_user_and_one_conflict(
    transactional_db, org, token
):
    for n in range(ROUNDS):
        email = f"twice{n}@{DOMAIN}"

        def create(email=email):
            return Scim(Client(), "acme", token).post("Users", user_body(email))

        codes = at_once(create, create)

        assert sorted(codes) == [201, 409]
        assert ScimUser.objects.filter(user_name_key=email).count() == 1
        assert Membership.objects.filter(user__email=email).count() == 1


def test_parallel_group_changes_of_the_same_people_never_deadlock(
    transactional_db, org, token
):
    scim = Scim(Client(), "acme", token)
    people = [
        scim.post("Users", user_body(f"p{n}@{DOMAIN}")).json()["id"] for n in range(6)
    ]
    groups = [
        scim.post("Groups", {"displayName": name}).json()["id"]
        for name in ("Engineering", "Admins")
    ]

    def change(group_id: str, members: list[str]):
        def call():
            return Scim(Client(), "acme", token).patch(
                f"Groups/{group_id}",
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [
                        {
                            "op": "Add",
                            "path": "members",
                            "value": [{"value": m} for m in members],
                        }
                    ],
                },
            )

        return call

    for _ in range(ROUNDS):
        codes = at_once(
            change(groups[0], people), change(groups[1], list(reversed(people)))
        )
        assert codes == [204, 204]
        for group in ScimGroup.objects.all():
            group.members.clear()
    assert Membership.objects.filter(organization=org, is_active=True).count() == 7
