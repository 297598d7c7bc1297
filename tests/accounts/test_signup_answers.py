"""What /accounts/signup/ answers, and to whom it writes.

Issue 15, item 1: sign-up for an address in a domain an organization verified
creates nothing and sends the person to that organization's single sign-on.
Item 9: sign-up for an address that has an account answers exactly as for a
new address, and tells the account's owner by email instead.
"""

from __future__ import annotations

import html
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import PendingSignup, User
from accounts.services import user_validate_email_free
from organizations.errors import ServiceError
from organizations.models import AuditEvent, Organization
from tests.connections.sso.helpers import make_connection, verify_domain
from tests.factories import make_org, make_user

pytestmark = pytest.mark.django_db

PASSPHRASE = "a-long-and-unusual-passphrase"


def signup_data(email: str, login_path: str = "fresh") -> dict[str, str]:
    return {
        "email": email,
        "password1": PASSPHRASE,
        "password2": PASSPHRASE,
        "org_name": "Fresh Co",
        "login_path": login_path,
    }


def page_text(response) -> str:
    """The page without what differs on every request (CSRF tokens)."""
    text = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", text)


def test_an_existing_address_gets_the_same_answer_as_a_new_one(committed):
    make_user("taken@example.test")
    new, existing = Client(), Client()

    with committed():
        first = new.post(reverse("signup"), signup_data("new@example.test", "one"))
    with committed():
        second = existing.post(
            reverse("signup"), signup_data("taken@example.test", "two")
        )

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("signup_sent")
    assert sorted(first.cookies) == sorted(second.cookies)
    # The page after it too, once the address it names is set aside.
    first_page = page_text(new.get(first["Location"]))
    second_page = page_text(existing.get(second["Location"]))
    assert first_page.replace("new@example.test", "ADDRESS") == (
        second_page.replace("taken@example.test", "ADDRESS")
    )
    assert "already" not in html.unescape(second_page)


def test_an_existing_address_creates_nothing_and_emails_its_owner(committed):
    owner = make_user("taken@example.test")
    mail.outbox.clear()

    with committed():
        Client().post(reverse("signup"), signup_data("Taken@Example.test"))

    assert User.objects.count() == 1
    assert not Organization.objects.filter(login_path="fresh").exists()
    assert not PendingSignup.objects.exists()
    assert len(mail.outbox) == 1
    notice = mail.outbox[0]
    assert notice.to == ["taken@example.test"]
    assert "tried to sign up" in notice.subject
    assert "/accounts/reset/" in notice.body  # a password-reset link
    assert "/accounts/login/" in notice.body
    owner.refresh_from_db()
    assert owner.check_password("correct-horse-battery-staple")  # untouched
    assert AuditEvent.objects.filter(
        action="user.signup_attempted", target="taken@example.test"
    ).exists()


def test_repeated_attempts_on_an_existing_address_email_its_owner_once_a_while(
    committed,
):
    make_user("taken@example.test")
    mail.outbox.clear()
    for n in range(3):
        with committed():
            response = Client().post(
                reverse("signup"), signup_data("taken@example.test", f"try-{n}")
            )
        assert response.status_code == 302
    assert len(mail.outbox) == 1


def test_a_new_address_gets_a_link_and_nothing_else_until_it_is_opened(committed):
    with committed():
        response = Client().post(reverse("signup"), signup_data("New@Example.test"))

    assert response.status_code == 302
    assert not User.objects.exists()
    assert not Organization.objects.exists()
    pending = PendingSignup.objects.get()
    assert (pending.email, pending.org_name, pending.login_path) == (
        "new@example.test",
        "Fresh Co",
        "fresh",
    )
    assert [m.to for m in mail.outbox] == [["new@example.test"]]
    assert "/accounts/signup/confirm/" in mail.outbox[0].body
    assert AuditEvent.objects.filter(
        action="user.signup_requested", target="new@example.test"
    ).exists()


def test_form_errors_are_the_same_whether_or_not_the_address_has_an_account():
    make_org("taken-path")
    make_user("taken@example.test")
    answers = [
        Client().post(reverse("signup"), signup_data(email, "taken-path"))
        for email in ("new@example.test", "taken@example.test")
    ]
    assert [a.status_code for a in answers] == [400, 400]
    for answer in answers:
        assert answer.context["form"].has_error("login_path", "login_path_taken")
    assert not User.objects.filter(email="new@example.test").exists()


def test_an_address_in_a_verified_domain_is_sent_to_that_organizations_sso():
    acme = make_org("acme", name="Acme Inc")
    verify_domain(acme, "acme.test")
    make_connection(acme, issuer="https://idp.acme.test")

    response = Client().post(reverse("signup"), signup_data("CEO@acme.test"))

    assert response.status_code == 302
    assert response["Location"] == "/sso/login/acme/?login_hint=ceo%40acme.test"
    assert not User.objects.filter(email="ceo@acme.test").exists()
    assert not Organization.objects.filter(login_path="fresh").exists()
    assert mail.outbox == []


@pytest.mark.parametrize(
    "email", ["ceo@acme.test", " CEO@ACME.TEST ", "ceo@acme.test.", "ceo@Acme.Test."]
)
def test_an_address_in_a_verified_domain_without_live_sso_is_refused_with_a_sentence(
    email,
):
    acme = make_org("acme", name="Acme Inc")
    verify_domain(acme, "acme.test")

    response = Client().post(reverse("signup"), signup_data(email))

    assert response.status_code == 400
    form = response.context["form"]
    assert form.has_error("email", "address_belongs_to_organization")
    # The domain in its one spelling, whatever was typed.
    assert "acme.test belongs to Acme Inc" in html.unescape(response.content.decode())
    assert User.objects.filter(email__icontains="acme.test").count() == 0
    assert not Organization.objects.filter(login_path="fresh").exists()


def test_the_verified_domain_answer_does_not_depend_on_an_account_existing():
    acme = make_org("acme", name="Acme Inc")
    verify_domain(acme, "acme.test")
    make_user("old@acme.test")
    answers = [
        Client().post(reverse("signup"), signup_data(email))
        for email in ("old@acme.test", "new@acme.test")
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert mail.outbox == []


def test_a_trailing_dot_or_capitals_do_not_make_a_second_account(committed):
    make_user("taken@example.test")
    mail.outbox.clear()
    with committed():
        Client().post(reverse("signup"), signup_data("TAKEN@example.test."))
    assert User.objects.count() == 1
    assert [m.to for m in mail.outbox] == [["taken@example.test"]]


@pytest.mark.parametrize(
    "email",
    [
        "a" * 300 + "@example.test",
        "ceo@acme.test\x00",
        "ceo@@acme.test",
        "ceo@ａｃｍｅ.test",
        "",
    ],
)
def test_hostile_addresses_are_a_400_with_a_sentence(email):
    response = Client().post(reverse("signup"), signup_data(email))
    assert response.status_code == 400
    assert "field-error" in response.content.decode()
    assert not Organization.objects.filter(login_path="fresh").exists()


def test_operators_are_told_when_an_address_has_an_account():
    """Sign-up never says so; the operators' create_org command does."""
    make_user("taken@example.test")
    with pytest.raises(ServiceError) as refused:
        user_validate_email_free(" Taken@Example.test ")
    assert refused.value.code == "account_exists"
    assert user_validate_email_free("New@Example.test") == "new@example.test"


def _probe(email: str, login_path: str) -> tuple[bool, str]:
    """Sign up as ``email`` asking for ``login_path``, as an outsider would,
    then look at what the sign-up left behind: the organization's SSO page,
    and the sign-up form's answer for the same login path."""
    answer = Client().post(reverse("signup"), signup_data(email, login_path))
    assert answer.status_code == 302
    sso_page = Client().get(f"/sso/login/{login_path}/").content.decode()
    again = Client().post(
        reverse("signup"), signup_data("other@example.test", login_path)
    )
    return "Unknown organization" in sso_page, str(again.status_code)


def test_what_a_sign_up_leaves_behind_does_not_say_whether_the_address_has_an_account(
    committed,
):
    """Security review M2: the login path a sign-up asked for was claimed only
    for a new address, which the SSO page and the form then told apart."""
    make_user("victim@example.test")
    with committed():
        existing = _probe("victim@example.test", "probe-aaa1")
    with committed():
        new = _probe("nobody@example.test", "probe-aaa2")
    assert existing == new
    # Nothing is created, claimed or signed into until the link is opened.
    assert not Organization.objects.filter(login_path__startswith="probe-").exists()
    assert not User.objects.filter(email="nobody@example.test").exists()
