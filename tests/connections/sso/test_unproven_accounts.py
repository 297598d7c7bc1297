"""Pre-account takeover (issue 15, item 1).

Someone signs up with an address they do not own, before its domain is
verified. Sign-up now creates nothing until its emailed link is opened with
the password, so they get no account at all. Accounts made that way before
(an unproven address, someone else's password) still exist: when the
address's real owner later signs in through their organization's IdP, that
sign-in must never be linked to such an account while the password and
sessions of whoever signed up still work.
"""

from __future__ import annotations

import html

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import PendingSignup, User
from connections.models import SsoIdentity
from connections.services.sso import SignInRefused, signin_test_preview
from rolemapping.models import Membership
from tests.factories import make_org, make_user

from .helpers import (
    assert_refused,
    callback,
    make_connection,
    set_default_role,
    signed_in_user_id,
    start_login,
    verify_domain,
)

pytestmark = pytest.mark.django_db

ATTACKER_PASSWORD = "attackers-own-passphrase-1"


def sign_in(client, fake, login_path="acme", **claims):
    request = start_login(client, login_path)
    fake.next_id_token = fake.id_token(request["nonce"], **claims)
    return callback(client, fake.issuer, request["state"])


SIGNUP = {
    "email": "ceo@acme.test",
    "password1": ATTACKER_PASSWORD,
    "password2": ATTACKER_PASSWORD,
    "org_name": "Throwaway",
    "login_path": "throwaway",
}


def attacker_signs_up(email: str = "ceo@acme.test") -> Client:
    """An account made with someone else's address, as sign-up made them
    before it waited for its link (unproven, the attacker's password, a
    throw-away organization); the attacker signs in with the password."""
    user = make_user(email, ATTACKER_PASSWORD, proven=False)
    make_org("throwaway", owner=user, name="Throwaway")
    attacker = Client()
    response = attacker.post(
        reverse("login"), {"username": email, "password": ATTACKER_PASSWORD}
    )
    assert response.status_code == 302
    return attacker


def test_signing_up_with_someone_elses_address_gets_no_account(
    acme_later, fake_idp, django_capture_on_commit_callbacks
):
    attacker = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert attacker.post(reverse("signup"), SIGNUP).status_code == 302
    refused = attacker.post(
        reverse("login"), {"username": "ceo@acme.test", "password": ATTACKER_PASSWORD}
    )
    assert refused.status_code == 400
    acme_later()
    victim = Client()

    response = sign_in(victim, fake_idp, sub="00u-ceo", email="ceo@acme.test")

    assert response.status_code == 302
    account = User.objects.get(email="ceo@acme.test")
    assert account.email_verified_at is not None
    assert not account.has_usable_password()
    assert SsoIdentity.objects.get().user == account
    # The link the sign-up emailed the victim does nothing now.
    link = next(m.body for m in mail.outbox if m.to == ["ceo@acme.test"])
    path = link.split("http://testserver", 1)[1].split()[0]
    opened = Client().post(path, {"password": ATTACKER_PASSWORD})
    assert opened.status_code == 409
    assert PendingSignup.objects.exists()  # until it expires
    account.refresh_from_db()
    assert not account.has_usable_password()


@pytest.fixture
def acme_later(org, fake_idp):
    """Acme verifies acme.test and goes live after the attacker signed up."""

    def setup():
        verify_domain(org, "acme.test")
        set_default_role(org, "member")
        make_connection(org, issuer=fake_idp.issuer)
        return org

    return setup


def test_an_address_someone_else_signed_up_with_is_never_linked(acme_later, fake_idp):
    attacker = attacker_signs_up()
    acme = acme_later()
    victim = Client()

    response = sign_in(victim, fake_idp, sub="00u-ceo", email="ceo@acme.test")

    event = assert_refused(victim, response, "unproven_account")
    assert event.organization == acme
    assert not SsoIdentity.objects.exists()
    assert not Membership.objects.filter(
        organization=acme, user__email="ceo@acme.test"
    ).exists()
    # The person is told what to do: claim the account with a password reset.
    page = html.unescape(response.content.decode())
    assert reverse("password_reset") in page
    # The attacker's session reaches only the throw-away organization.
    assert attacker.get("/orgs/acme/").status_code == 404


def test_after_a_password_reset_the_sso_sign_in_links_and_the_other_session_ends(
    acme_later, fake_idp, django_capture_on_commit_callbacks
):
    attacker = attacker_signs_up()
    acme_later()
    victim = Client()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):  # the email's commit
        victim.post(reverse("password_reset"), {"email": "ceo@acme.test"})
    link = next(
        line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line
    )
    form_url = victim.get(link.split("testserver", 1)[1], follow=True).redirect_chain[
        -1
    ][0]
    victim.post(
        form_url,
        {
            "new_password1": "victims-passphrase-9",
            "new_password2": "victims-passphrase-9",
        },
    )

    response = sign_in(victim, fake_idp, sub="00u-ceo", email="ceo@acme.test")

    assert response.status_code == 302
    account = User.objects.get(email="ceo@acme.test")
    assert SsoIdentity.objects.get().user == account
    assert signed_in_user_id(victim) == str(account.pk)
    assert attacker.get(reverse("me")).status_code == 401
    refused = attacker.post(
        reverse("login"),
        {"username": "ceo@acme.test", "password": ATTACKER_PASSWORD},
    )
    assert refused.status_code == 400


def test_an_identity_linked_to_an_unproven_password_account_is_refused(
    acme, acme_connection, fake_idp
):
    """A link made before the fix does not keep working for a password holder."""
    user = make_user("ceo@acme.test", proven=False)
    SsoIdentity.objects.create(
        user=user,
        connection=acme_connection,
        issuer=fake_idp.issuer,
        subject="00u-ceo",
    )
    browser = Client()
    response = sign_in(browser, fake_idp, sub="00u-ceo", email="ceo@acme.test")
    assert_refused(browser, response, "unproven_account")


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


def test_an_account_created_by_a_concurrent_sign_up_is_not_linked(acme):
    """The provisioning race: the account appears between look-up and create."""
    from connections.services.sso import _user_provision

    make_user("ada@acme.test", proven=False)
    with pytest.raises(SignInRefused) as refused:
        _user_provision(organization=acme, email="ada@acme.test", claims={}, ip=None)
    assert refused.value.step == refused.value.code == "unproven_account"


def test_the_test_sign_in_shows_that_the_account_would_be_refused(acme, fake_idp):
    connection = make_connection(acme, issuer=fake_idp.issuer, live=False)
    make_user("ceo@acme.test", proven=False)
    result = signin_test_preview(
        organization=acme,
        connection=connection,
        config=connection.draft,
        claims={
            "iss": fake_idp.issuer,
            "sub": "00u-ceo",
            "email": "ceo@acme.test",
            "email_verified": True,
        },
    )
    assert result["step"] == "unproven_account"
    assert result["allowed"] is False
