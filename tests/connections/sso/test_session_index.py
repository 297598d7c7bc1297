"""An SSO sign-in records its session for its organization, with the IdP's
`sid`, so the organization can end it (accounts.sessions)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import SessionRecord
from accounts.sessions import sessions_end
from tests.factories import make_member, make_user

from .helpers import callback, signed_in_user_id, start_login

pytestmark = pytest.mark.django_db


def sign_in(client, fake, **claims):
    request = start_login(client, "acme")
    fake.next_id_token = fake.id_token(request["nonce"], **claims)
    return callback(client, fake.issuer, request["state"])


def _signed_in(client: Client) -> bool:
    return (
        client.get("/accounts/me/", HTTP_ACCEPT="application/json").status_code == 200
    )


def test_an_sso_session_is_indexed_with_the_idps_sid(acme, acme_connection, fake_idp):
    client = Client()
    assert (
        sign_in(client, fake_idp, email="ada@acme.test", sid="idp-s-1").status_code
        == 302
    )

    row = SessionRecord.objects.get()
    assert (row.organization_id, row.idp_sid) == (acme.pk, "idp-s-1")
    assert str(row.user_id) == signed_in_user_id(client)


def test_ending_by_sid_ends_only_that_idp_session(acme, acme_connection, fake_idp):
    first, second = Client(), Client()
    sign_in(first, fake_idp, sub="ada", email="ada@acme.test", sid="s-1")
    sign_in(second, fake_idp, sub="ada", email="ada@acme.test", sid="s-2")
    assert _signed_in(first) and _signed_in(second)

    assert sessions_end(organization_id=acme.pk, idp_sid="s-1") == 1

    assert not _signed_in(first)
    assert _signed_in(second)


def test_a_session_without_sid_is_ended_by_person(acme, acme_connection, fake_idp):
    client = Client()
    sign_in(client, fake_idp, email="ada@acme.test")
    row = SessionRecord.objects.get()
    assert row.idp_sid == ""

    assert sessions_end(organization_id=acme.pk, user_id=row.user_id) == 1
    assert not _signed_in(client)


def test_a_password_session_of_a_member_is_ended_with_the_sso_ones(
    acme, acme_connection, fake_idp
):
    user = make_user("ada@acme.test")
    make_member(acme, user=user)
    sso, password = Client(), Client()
    sign_in(sso, fake_idp, email="ada@acme.test")
    password.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    assert SessionRecord.objects.filter(user=user).count() == 2

    assert sessions_end(organization_id=acme.pk, user_id=user.pk) == 2
    assert not _signed_in(sso) and not _signed_in(password)
