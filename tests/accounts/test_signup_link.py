"""The link a sign-up emails (security review M2, issue 15 item 9).

Sign-up keeps what was asked for in a PendingSignup and creates nothing else:
the link, opened with the password chosen at sign-up, creates the owner (the
address proven) and the organization in one step and signs them in. The link
alone does nothing: anyone can type anyone's address into the sign-up form.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import PendingSignup, User
from accounts.services import (
    SIGNUP_LINK_MAX_FAILURES,
    owner_signup_confirm,
    pending_signups_prune,
)
from accounts.tasks import pending_signups_expire
from organizations.models import AuditEvent, Organization, OutboundEmail
from rolemapping.models import Membership
from tests.connections.sso.helpers import make_connection, verify_domain
from tests.factories import make_org, make_user

from .helpers import CONFIRM_LINK, PASSPHRASE, SIGNUP_LINK, signup_link, text_of

pytestmark = pytest.mark.django_db

EMAIL = "founder@acme.test"


def test_sign_up_signs_nobody_in_and_emails_a_link(client, sign_up):
    response = sign_up(client)

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    page = text_of(client.get(response["Location"]))
    assert "Check your inbox" in page
    assert EMAIL in page
    body = mail.outbox[0].body
    assert SIGNUP_LINK.search(body) and not CONFIRM_LINK.search(body)
    assert mail.outbox[0].alternatives  # an HTML part too
    assert AuditEvent.objects.filter(action="user.signup_link_sent").exists()
    # The link was kept encrypted in the outbox, and emptied once sent.
    row = OutboundEmail.objects.get(kind="signup_link")
    assert row.status == "sent" and row.body_sealed == ""


def test_the_password_is_kept_as_a_hash_only(client, sign_up):
    sign_up(client)
    pending = PendingSignup.objects.get()
    assert PASSPHRASE not in pending.password
    assert check_password(PASSPHRASE, pending.password)
    assert PASSPHRASE not in signup_link(EMAIL)


def test_the_link_with_the_password_creates_the_owner_and_the_organization(
    client, sign_up
):
    sign_up(Client())
    link = signup_link(EMAIL)

    page = client.get(link)
    assert page.status_code == 200
    assert f"Confirm {EMAIL}" in text_of(page)
    assert "Acme Inc" in text_of(page)
    assert 'name="login_path"' not in page.content.decode()
    response = client.post(link, {"password": PASSPHRASE})

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email=EMAIL)
    assert user.email_verified_at is not None
    assert user.check_password(PASSPHRASE)
    org = Organization.objects.get()
    assert (org.name, org.login_path, org.owner) == ("Acme Inc", "acme", user)
    assert Membership.objects.get(organization=org).user == user
    assert client.session["_auth_user_id"] == str(user.pk)
    proven = AuditEvent.objects.get(action="user.email_proven")
    assert (proven.actor, proven.details["via"]) == (user, "email_link")
    assert AuditEvent.objects.get(action="user.signed_up").actor == user
    assert AuditEvent.objects.get(action="organization.created").actor == user
    assert not PendingSignup.objects.exists()
    followed = client.get("/", follow=True)
    assert followed.redirect_chain[-1][0] == "/orgs/acme/"
    assert f"{EMAIL} is confirmed" in text_of(followed)
    # Used: the link does nothing more.
    again = Client().post(link, {"password": PASSPHRASE})
    assert again.status_code == 410
    assert again.context["code"] == "signup_link_used"


def test_the_link_alone_creates_nothing(client, sign_up):
    """The person who owns the mailbox did not necessarily choose the password:
    someone else may have signed up with their address."""
    sign_up(Client())
    link = signup_link(EMAIL)

    assert "You did not sign up?" in text_of(client.get(link))
    response = client.post(link, {"password": "not-the-password"})

    assert response.status_code == 200  # the form again, with its sentence
    assert response.context["form"].has_error("password", "signup_password_wrong")
    assert not User.objects.exists() and not Organization.objects.exists()
    assert "_auth_user_id" not in client.session
    assert client.post(link, {}).context["form"].has_error("password", "required")


def test_too_many_wrong_passwords_end_the_link(client, sign_up):
    sign_up(Client())
    link = signup_link(EMAIL)
    for _ in range(SIGNUP_LINK_MAX_FAILURES):
        assert client.post(link, {"password": "a-guess"}).status_code == 200

    response = client.post(link, {"password": PASSPHRASE})

    assert response.status_code == 410
    assert response.context["code"] == "signup_link_used"
    assert not User.objects.exists()
    assert not PendingSignup.objects.exists()


def test_a_login_path_taken_meanwhile_is_asked_for_again(client, sign_up):
    sign_up(Client())
    make_org("acme")  # someone else's organization took it meanwhile
    link = signup_link(EMAIL)

    page = client.get(link)
    assert "The login path 'acme' is taken" in text_of(page)
    assert 'name="login_path"' in page.content.decode()
    missing = client.post(link, {"password": PASSPHRASE})
    assert missing.context["form"].has_error("login_path", "required")
    taken = client.post(link, {"password": PASSPHRASE, "login_path": "ACME"})
    assert taken.context["form"].has_error("login_path", "login_path_taken")
    assert not User.objects.filter(email=EMAIL).exists()

    response = client.post(link, {"password": PASSPHRASE, "login_path": "acme-two"})

    assert response.status_code == 302
    org = Organization.objects.get(login_path="acme-two")
    assert (org.name, org.owner.email) == ("Acme Inc", EMAIL)


def test_a_login_path_taken_between_the_page_and_the_click(client, sign_up):
    """Nothing is half-created: the account waits for the new login path."""
    sign_up(Client())
    link = signup_link(EMAIL)
    assert 'name="login_path"' not in client.get(link).content.decode()
    make_org("acme")

    response = client.post(link, {"password": PASSPHRASE})

    assert response.status_code == 200
    assert 'name="login_path"' in response.content.decode()
    assert not User.objects.filter(email=EMAIL).exists()


def test_the_service_refuses_a_login_path_taken_at_the_last_moment(sign_up):
    sign_up(Client())
    token = signup_link(EMAIL).split("/")[-2]
    make_org("acme")
    from accounts.services import SignupRefused

    with pytest.raises(SignupRefused) as refused:
        owner_signup_confirm(token=token, password=PASSPHRASE, ip=None)
    assert (refused.value.field, refused.value.code) == (
        "login_path",
        "login_path_taken",
    )
    assert not User.objects.filter(email=EMAIL).exists()
    assert PendingSignup.objects.exists()  # the link still works


def test_the_first_link_confirmed_ends_the_others(sign_up, settings, monkeypatch):
    import accounts.services

    monkeypatch.setattr(accounts.services, "RESEND_INTERVAL", 0)
    sign_up(Client(), path="first")
    first = signup_link(EMAIL)
    sign_up(Client(), path="second")
    second = signup_link(EMAIL)
    assert first != second

    assert Client().post(second, {"password": PASSPHRASE}).status_code == 302

    response = Client().get(first)
    assert response.status_code == 410
    assert response.context["code"] == "signup_link_used"
    assert list(Organization.objects.values_list("login_path", flat=True)) == ["second"]


def test_an_address_that_got_an_account_meanwhile_ends_the_link(sign_up):
    sign_up(Client())
    link = signup_link(EMAIL)
    make_user(EMAIL)  # an invitation, say

    response = Client().post(link, {"password": PASSPHRASE})

    assert response.status_code == 409
    assert response.context["code"] == "signup_account_exists"
    assert not Organization.objects.filter(login_path="acme").exists()


def test_a_domain_verified_meanwhile_ends_the_link(sign_up):
    sign_up(Client())
    link = signup_link(EMAIL)
    corp = make_org("corp", name="Acme Corp")
    verify_domain(corp, "acme.test")
    make_connection(corp, issuer="https://idp.acme.test")

    response = Client().post(link, {"password": PASSPHRASE})

    assert response.status_code == 409
    assert response.context["code"] == "address_belongs_to_organization"
    assert not User.objects.filter(email=EMAIL).exists()


def test_an_expired_link_is_refused_with_a_sentence(sign_up, settings):
    sign_up(Client())
    link = signup_link(EMAIL)
    settings.EMAIL_PROOF_MAX_AGE = -1

    response = Client().post(link, {"password": PASSPHRASE})

    assert response.status_code == 410
    assert response.context["code"] == "signup_link_expired"
    assert "This confirmation link expired" in text_of(response)
    assert not User.objects.exists()


def test_expired_sign_ups_are_deleted(sign_up):
    sign_up(Client())
    sign_up(Client(), email="other@acme.test")
    link = signup_link(EMAIL)
    PendingSignup.objects.filter(email=EMAIL).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert Client().get(link).context["code"] == "signup_link_used"

    assert pending_signups_prune() == 1
    assert pending_signups_expire.apply().get() == 0
    assert list(PendingSignup.objects.values_list("email", flat=True)) == [
        "other@acme.test"
    ]


@pytest.mark.parametrize(
    "token",
    ["x", "a" * 5000, "eyJzIjoiMSJ9:1tXyZ:AAAA", "%00", "%E2%80%AE", ".."],
)
def test_a_broken_link_is_a_4xx_with_a_sentence(client, sign_up, token):
    sign_up(Client())
    for response in (
        client.get(f"/accounts/signup/confirm/{token}/"),
        client.post(f"/accounts/signup/confirm/{token}/", {"password": PASSPHRASE}),
    ):
        assert 400 <= response.status_code < 500
        if response.status_code != 404:
            assert response.context["code"] == "signup_link_invalid"
    assert not User.objects.exists()


def test_a_link_altered_by_one_character_is_refused(client, sign_up):
    sign_up(Client())
    link = signup_link(EMAIL)
    altered = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    assert client.post(altered, {"password": PASSPHRASE}).status_code == 400
    assert not User.objects.exists()


def test_the_two_kinds_of_link_do_not_open_each_others_pages(client, sign_up):
    sign_up(Client())
    token = signup_link(EMAIL).split("/")[-2]
    response = client.get(f"/accounts/email/confirm/{token}/")
    assert response.context["code"] == "email_proof_link_invalid"


def test_a_sign_up_finished_before_its_email_went_out_is_not_mailed(
    django_capture_on_commit_callbacks, committed, monkeypatch
):
    import accounts.services

    monkeypatch.setattr(accounts.services, "RESEND_INTERVAL", 0)
    data = {
        "email": EMAIL,
        "password1": PASSPHRASE,
        "password2": PASSPHRASE,
        "org_name": "Acme Inc",
        "login_path": "acme",
    }
    with committed():
        Client().post("/accounts/signup/", data)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        Client().post("/accounts/signup/", {**data, "login_path": "acme-later"})
    assert (
        Client().post(signup_link(EMAIL), {"password": PASSPHRASE}).status_code == 302
    )
    mail.outbox.clear()
    with committed():
        for publish in queued:
            publish()
    assert mail.outbox == []
    assert OutboundEmail.objects.filter(status="cancelled").count() == 1
