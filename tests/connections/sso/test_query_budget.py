"""What a sign-in costs in queries, pinned so a change that adds one is noticed.

The benchmark (``make bench``) measures the same under load; these tests say
which queries: a start is one query, and a returning member's callback reads
the membership once (locked, for the sync) and no role.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invitations.models import Invitation
from rolemapping.models import Membership, Role
from tests.factories import make_member, make_user

from .helpers import callback, map_group, signed_in_user_id, start_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sessions_in_the_cache(settings):
    # As in production (Redis): the tests' database sessions would add queries.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"


# A returning member's callback: the connection (with the organization, its
# default role and the live configuration); the identity with the account;
# the account's domain; the membership (locked); the mappings; the membership
# and account updates; the sign-in event; the transaction's two statements;
# and the session's row in the index of sessions (accounts.sessions), which
# lets the organization end it. No invitation: an active member cannot hold
# an open one.
REPEAT_CALLBACK_QUERIES = 11


def _sign_in(client: Client, fake, **claims):
    request = start_login(client)
    fake.next_id_token = fake.sign({**fake.claims(request["nonce"]), **claims})
    return callback(client, fake.issuer, request["state"])


def _reads_of(queries: list[dict], table: str) -> list[str]:
    """The SELECTs whose main table is ``table`` (not those joining it)."""
    return [q["sql"] for q in queries if f' FROM "{table}" ' in q["sql"] + " "]


def test_a_sign_in_start_is_one_query(client, acme, acme_connection):
    with CaptureQueriesContext(connection) as start:
        start_login(client)

    assert len(start) == 1, [q["sql"] for q in start.captured_queries]


def test_a_returning_members_callback_reads_the_membership_once_no_role_no_invitation(
    acme, acme_connection, fake_idp
):
    map_group(acme, "Engineering", "admin")
    first = _sign_in(Client(), fake_idp, groups=["Engineering"])
    assert first.status_code == 302, first.content.decode()[:2000]

    browser = Client()
    request = start_login(browser)
    fake_idp.next_id_token = fake_idp.sign(
        {**fake_idp.claims(request["nonce"]), "groups": ["Engineering"]}
    )
    with CaptureQueriesContext(connection) as captured:
        response = callback(browser, fake_idp.issuer, request["state"])

    assert response.status_code == 302, response.content.decode()[:2000]
    assert signed_in_user_id(browser) is not None
    queries = captured.captured_queries
    assert len(_reads_of(queries, "rolemapping_membership")) == 1
    assert _reads_of(queries, "rolemapping_role") == []
    assert _reads_of(queries, "connections_invitation") == []
    assert len(queries) == REPEAT_CALLBACK_QUERIES, [q["sql"] for q in queries]


def test_a_role_change_at_the_idp_still_applies_on_the_next_sign_in(
    acme, acme_connection, fake_idp
):
    # The role is taken from what is loaded when it can be; a new one is read.
    map_group(acme, "Engineering", "admin")
    assert _sign_in(Client(), fake_idp, groups=["Engineering"]).status_code == 302
    membership = Membership.objects.get(organization=acme, user__email="ada@acme.test")
    assert membership.role.slug == "admin"

    assert _sign_in(Client(), fake_idp, groups=["Sales"]).status_code == 302

    membership.refresh_from_db()
    assert membership.role.slug == "member"  # acme's default role
    assert _sign_in(Client(), fake_idp, groups=["Engineering"]).status_code == 302
    membership.refresh_from_db()
    assert membership.role.slug == "admin"


def test_a_deactivated_member_signing_in_still_accepts_their_open_invitation(
    acme, acme_connection, fake_idp
):
    # The invitation query is skipped only for active members, who cannot be
    # invited; a deactivated one can, and signing in accepts it.
    ada = make_member(acme, "viewer", user=make_user("ada@acme.test"), is_active=False)
    invitation = Invitation.objects.create(
        organization=acme,
        email="ada@acme.test",
        role=Role.objects.get(organization=acme, slug="admin"),
        token_hash="0" * 64,
        invited_by=acme.owner,
        expires_at=timezone.now() + timedelta(days=7),
    )

    assert _sign_in(Client(), fake_idp).status_code == 302

    ada.refresh_from_db()
    invitation.refresh_from_db()
    assert ada.is_active and ada.role.slug == "admin"
    assert invitation.accepted_by_id == ada.user_id


@pytest.mark.parametrize("page", ["/accounts/me/", "/orgs/acme/"])
def test_a_signed_in_members_page_reads_their_memberships_once(
    page, acme, acme_connection, fake_idp
):
    # The session check, the console's organization, its navigation and
    # /accounts/me/ share one read of the person's memberships.
    browser = Client()
    assert _sign_in(browser, fake_idp).status_code == 302

    with CaptureQueriesContext(connection) as captured:
        response = browser.get(page)

    assert response.status_code == 200
    assert "ada@acme.test" in response.content.decode()
    assert len(_reads_of(captured.captured_queries, "rolemapping_membership")) == 1
