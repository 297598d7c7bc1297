"""Findings of the security review of SSO sign-in, each pinned by a test.

* Time claims too large for a float (``"iat": 1e400`` written as an integer)
  crashed the callback with a server error instead of a refusal.
* ``email_verified`` vouches for the ``email`` claim only; with another email
  claim configured, it must not let an unverified address link or provision.
* A non-ASCII address that lower-cases onto an ASCII one (KELVIN SIGN) must not
  reach that account.
* An invitation revoked while its sign-in is in flight is a refusal, with
  nothing written, not a server error.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from accounts.models import User
from connections.models import SsoIdentity
from rolemapping.models import Membership
from tests.factories import make_member, make_user

from .helpers import (
    assert_refused,
    callback,
    make_connection,
    signed_in_user_id,
    start_login,
)

pytestmark = pytest.mark.django_db

# Valid JSON, and a valid Python int, but no float can hold it.
HUGE = 10**400


def sign_in(client, fake, **changes):
    request = start_login(client)
    fake.next_id_token = fake.sign({**fake.claims(request["nonce"]), **changes})
    return callback(client, fake.issuer, request["state"])


@pytest.mark.parametrize(
    ("changes", "step"),
    [({"iat": HUGE}, "iat"), ({"nbf": HUGE}, "nbf"), ({"exp": -HUGE}, "exp")],
    ids=["iat", "nbf", "exp"],
)
def test_time_claims_too_large_for_a_float_are_refused_not_a_server_error(
    changes, step, client, acme, acme_connection, fake_idp
):
    response = sign_in(client, fake_idp, **changes)

    assert_refused(client, response, step)
    assert not User.objects.filter(email="ada@acme.test").exists()


@pytest.fixture
def username_connection(acme, fake_idp):
    """Acme's connection reading the address from 'preferred_username'."""
    return make_connection(
        acme, issuer=fake_idp.issuer, email_claim="preferred_username"
    )


def test_email_verified_does_not_vouch_for_another_email_claim(
    client, acme, username_connection, fake_idp
):
    # Mallory's verified email is her own; the username she chose names Bob.
    bob = make_member(acme, user=make_user("bob@acme.test")).user
    response = sign_in(
        client,
        fake_idp,
        sub="00u-mallory",
        email="mallory@acme.test",
        email_verified=True,
        preferred_username="bob@acme.test",
    )

    assert_refused(client, response, "email_verified")
    assert not SsoIdentity.objects.filter(user=bob).exists()


def test_unverified_address_in_another_email_claim_creates_no_account(
    client, acme, username_connection, fake_idp
):
    response = sign_in(
        client,
        fake_idp,
        sub="00u-mallory",
        email="mallory@acme.test",
        email_verified=True,
        preferred_username="ceo@acme.test",
    )

    assert_refused(client, response, "email_verified")
    assert not User.objects.filter(email="ceo@acme.test").exists()


def test_another_email_claim_works_when_it_is_the_verified_email(
    acme, username_connection, fake_idp
):
    browser = Client()
    response = sign_in(
        browser,
        fake_idp,
        email="Ada@acme.test",
        email_verified=True,
        preferred_username="ada@ACME.test",
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert signed_in_user_id(browser) == str(ada.pk)
    assert Membership.objects.filter(user=ada, organization=acme).exists()


def test_a_non_ascii_address_that_case_folds_onto_an_account_does_not_link(
    client, acme, acme_connection, fake_idp
):
    # "\u212a" (KELVIN SIGN) lower-cases to "k": without a guard, an IdP that
    # verified "\u212aate@acme.test" would sign into kate@acme.test.
    kate = make_member(acme, "admin", user=make_user("kate@acme.test"))
    response = sign_in(client, fake_idp, sub="00u-mallory", email="\u212aate@acme.test")

    assert_refused(client, response, "email")
    assert not SsoIdentity.objects.filter(user=kate.user).exists()


def test_an_invitation_revoked_during_the_sign_in_is_a_refusal_not_a_500(
    client, acme, acme_connection, fake_idp, monkeypatch
):
    from connections.services import sso
    from organizations.errors import ServiceError

    def revoked_meanwhile(**kwargs):
        raise ServiceError("This invitation was revoked. Ask for a new one.")

    fake_invitation = SimpleNamespace(role=SimpleNamespace(slug="member"))
    monkeypatch.setattr(sso, "invitation_for_signin", lambda **kw: fake_invitation)
    monkeypatch.setattr(sso, "invitation_mark_accepted", revoked_meanwhile)
    monkeypatch.setattr(sso, "membership_apply", _fake_sync)
    response = sign_in(client, fake_idp)

    event = assert_refused(client, response, "invitation")
    assert "revoked" in event.detail or "revoked" in response.content.decode()
    assert not User.objects.filter(email="ada@acme.test").exists()  # rolled back


def _fake_sync(*, organization, user, decision, invited_role=None, ip=None, **kw):
    role = organization.roles.get(slug="member")
    return Membership.objects.create(
        user=user, organization=organization, role=role, source="sso"
    )
