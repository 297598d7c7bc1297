"""The link that proves the address of an account that exists (issue 15,
item 1): owners whom sign-up made before it waited for its link
(test_signup_link.py) get it from the console's banner.

It proves the address only for whoever also holds the account (signed in, or
typing its password): the mailbox's owner did not necessarily choose the
password.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import NON_FIELD_ERRORS
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import user_email_proof_resend, user_email_prove_by_link
from organizations.errors import ServiceError
from organizations.models import AuditEvent
from tests.factories import PASSWORD, make_member, make_org, make_user

from .helpers import PASSPHRASE, confirm_link, sign_in, text_of

pytestmark = pytest.mark.django_db


def test_the_link_with_the_password_proves_the_address_and_signs_in(
    client, unproven_owner
):
    link = confirm_link("founder@acme.test")

    page = client.get(link)
    assert page.status_code == 200
    assert "founder@acme.test" in text_of(page)
    response = client.post(link, {"password": PASSPHRASE})

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="founder@acme.test")
    assert user.email_verified_at is not None
    assert client.session["_auth_user_id"] == str(user.pk)
    event = AuditEvent.objects.get(action="user.email_proven")
    assert (event.actor, event.details["via"]) == (user, "email_link")
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/orgs/acme/"


def test_the_link_alone_proves_nothing_without_the_password(client, unproven_owner):
    """The person who owns the mailbox did not necessarily choose the password:
    someone else may have signed up with their address."""
    link = confirm_link("founder@acme.test")

    page = text_of(client.get(link))
    assert "reset" in page.lower()  # what to do if you never signed up
    response = client.post(link, {"password": "not-the-password"})

    assert response.status_code == 200  # the form again, with its sentence
    assert response.context["form"].has_error(NON_FIELD_ERRORS, "invalid_login")
    assert User.objects.get().email_verified_at is None
    assert "_auth_user_id" not in client.session


def test_signed_in_as_the_account_the_link_needs_one_click(client, founder):
    link = confirm_link("founder@acme.test")
    assert 'name="password"' not in client.get(link).content.decode()
    assert client.post(link).status_code == 302
    founder.refresh_from_db()
    assert founder.email_verified_at is not None


def test_signed_in_as_another_account_the_link_confirms_nothing(client, unproven_owner):
    link = confirm_link("founder@acme.test")
    other = make_user("other@example.test")
    client.force_login(other)

    response = client.post(link, {"password": PASSPHRASE})

    assert response.status_code == 200
    assert response.context["mismatch"]
    assert "other@example.test" in text_of(response)
    assert User.objects.get(email="founder@acme.test").email_verified_at is None
    with pytest.raises(ServiceError) as refused:  # the service refuses it too
        user_email_prove_by_link(token=link.split("/")[-2], user=other, ip=None)
    assert refused.value.code == "email_mismatch"


def test_a_link_for_an_address_already_proven_says_so(client, founder):
    link = confirm_link("founder@acme.test")
    client.post(link)
    response = client.get(link)
    assert response.status_code == 200
    assert response.context["already"] and not response.context.get("sso_links")


def test_an_expired_link_is_refused_with_a_sentence(client, founder, settings):
    link = confirm_link("founder@acme.test")
    settings.EMAIL_PROOF_MAX_AGE = -1
    response = client.post(link)
    assert response.status_code == 410
    assert response.context["code"] == "email_proof_link_expired"
    assert "This confirmation link expired" in text_of(response)
    founder.refresh_from_db()
    assert founder.email_verified_at is None


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "a" * 5000,
        "eyJ1IjoxfQ:1tXyZ:AAAA",
        "%00",
        "%E2%80%AE",
        "..",
    ],
)
def test_a_broken_link_is_a_4xx_with_a_sentence(client, founder, token):
    for response in (
        client.get(f"/accounts/email/confirm/{token}/"),
        client.post(f"/accounts/email/confirm/{token}/", {"password": PASSPHRASE}),
    ):
        assert 400 <= response.status_code < 500
        if response.status_code != 404:
            assert response.context["code"] == "email_proof_link_invalid"
    founder.refresh_from_db()
    assert founder.email_verified_at is None


def test_a_link_altered_by_one_character_is_refused(client, founder):
    link = confirm_link("founder@acme.test")
    altered = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    assert client.post(altered).status_code == 400
    founder.refresh_from_db()
    assert founder.email_verified_at is None


def test_a_link_stops_working_when_the_account_changes_address(client, founder):
    link = confirm_link("founder@acme.test")
    founder.email = "someone-else@acme.test"
    founder.save()
    assert client.post(link).status_code == 400


def test_an_unproven_account_sees_a_banner_and_can_ask_for_a_new_link(
    client, founder, committed
):
    page = text_of(client.get("/orgs/acme/"))
    assert "Confirm your email address" in page
    assert reverse("email_proof_resend") in page
    mail.outbox.clear()

    with committed():
        response = client.post(reverse("email_proof_resend"), {"next": "/orgs/acme/"})

    assert response.status_code == 302
    assert response["Location"] == "/orgs/acme/"
    assert [m.to for m in mail.outbox] == [["founder@acme.test"]]
    with committed():
        again = client.post(reverse("email_proof_resend"), follow=True)
    assert len(mail.outbox) == 1  # not twice within a minute
    assert again.redirect_chain  # back to the page, with the refusal's sentence
    with pytest.raises(ServiceError) as refused:
        user_email_proof_resend(user=founder)
    assert refused.value.code == "email_proof_too_soon"


def test_a_proven_account_is_not_sent_another_link(founder):
    founder.email_verified_at = founder.date_joined
    with pytest.raises(ServiceError) as refused:
        user_email_proof_resend(user=founder)
    assert refused.value.code == "email_already_proven"


def test_a_proven_account_sees_no_banner(client, committed):
    org = make_org("acme")
    client.force_login(org.owner)
    assert "Confirm your email address" not in text_of(client.get("/orgs/acme/"))
    mail.outbox.clear()
    with committed():
        client.post(reverse("email_proof_resend"))
    assert mail.outbox == []


def test_asking_for_a_link_needs_a_signed_in_account(client):
    response = client.post(reverse("email_proof_resend"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert client.get(reverse("email_proof_resend")).status_code == 405


def test_password_sign_in_is_unchanged_for_an_unproven_account(client, unproven_owner):
    assert sign_in(client, "founder@acme.test").status_code == 302
    assert sign_in(Client(), "founder@acme.test", PASSWORD).status_code == 400


def test_a_member_of_an_enforced_org_proves_the_address_but_signs_in_by_sso(
    client, unproven_owner
):
    founder = unproven_owner
    corp = make_org("corp", name="Corp")
    make_member(corp, "member", user=founder)
    corp.sso_enforced = True
    corp.save()

    response = client.post(confirm_link("founder@acme.test"), {"password": PASSPHRASE})

    assert response.status_code == 200
    assert "Corp requires single sign-on" in text_of(response)
    assert "/sso/login/corp/" in text_of(response)
    assert "_auth_user_id" not in client.session
    founder.refresh_from_db()
    assert founder.email_verified_at is not None
