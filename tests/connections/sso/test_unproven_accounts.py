"""SSO and proven addresses (issue 15, item 1): a sign-in through a verified
domain proves the address of an account without a password."""

from __future__ import annotations

import pytest

from accounts.models import User
from connections.models import SsoIdentity
from tests.factories import make_user

from .helpers import callback, start_login

pytestmark = pytest.mark.django_db


def sign_in(client, fake, login_path="acme", **claims):
    request = start_login(client, login_path)
    fake.next_id_token = fake.id_token(request["nonce"], **claims)
    return callback(client, fake.issuer, request["state"])


def test_a_first_sign_in_provisions_a_proven_account(
    client, acme, acme_connection, fake_idp
):
    assert sign_in(client, fake_idp).status_code == 302
    user = User.objects.get(email="ada@acme.test")
    assert user.email_verified_at is not None
    assert not user.has_usable_password()


def test_an_unproven_account_without_a_password_is_proven_by_the_sign_in(
    client, acme, acme_connection, fake_idp
):
    user = make_user("ada@acme.test", proven=False)
    user.set_unusable_password()
    user.save()

    assert sign_in(client, fake_idp).status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at is not None
    assert SsoIdentity.objects.get().user == user


def test_a_proven_password_account_is_linked(client, acme, acme_connection, fake_idp):
    user = make_user("ada@acme.test")
    assert sign_in(client, fake_idp).status_code == 302
    assert SsoIdentity.objects.get().user == user
    assert user.has_usable_password()
