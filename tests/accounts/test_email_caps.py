"""How many emails one address gets that nobody signed in asked for (security
review L4a): sign-up's links and notices, and the banner's new links, are
counted per address, ADDRESS_EMAILS_PER_DAY a day in all, on top of one link a
minute and one notice a quarter of an hour."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

import accounts.services
from accounts.services import ADDRESS_EMAILS_PER_DAY, user_email_proof_resend
from organizations.errors import ServiceError
from tests.factories import make_user

from .helpers import PASSPHRASE

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_intervals(monkeypatch):
    """As if each try came after the interval: only the daily count holds."""
    monkeypatch.setattr(accounts.services, "RESEND_INTERVAL", 0)
    monkeypatch.setattr(accounts.services, "SIGNUP_NOTICE_INTERVAL", 0)


def sign_up(committed, email: str, n: int) -> None:
    with committed():
        response = Client().post(
            reverse("signup"),
            {
                "email": email,
                "password1": PASSPHRASE,
                "password2": PASSPHRASE,
                "org_name": "Probe",
                "login_path": f"probe-{n}",
            },
        )
    assert response.status_code == 302


def sent_to(email: str) -> int:
    return sum(1 for m in mail.outbox if m.to == [email])


def test_sign_ups_for_a_new_address_mail_it_a_few_times_a_day(committed, no_intervals):
    for n in range(3 * ADDRESS_EMAILS_PER_DAY):
        sign_up(committed, "new@example.test", n)
    assert sent_to("new@example.test") == ADDRESS_EMAILS_PER_DAY


def test_sign_ups_for_an_address_with_an_account_mail_it_a_few_times_a_day(
    committed, no_intervals
):
    make_user("taken@example.test")
    for n in range(3 * ADDRESS_EMAILS_PER_DAY):
        sign_up(committed, "taken@example.test", n)
    assert sent_to("taken@example.test") == ADDRESS_EMAILS_PER_DAY


def test_new_links_from_the_banner_are_counted_too(committed, no_intervals):
    user = make_user("founder@acme.test", proven=False)
    for _ in range(ADDRESS_EMAILS_PER_DAY):
        with committed():
            user_email_proof_resend(user=user)
    with pytest.raises(ServiceError) as refused:
        user_email_proof_resend(user=user)
    assert refused.value.code == "email_proof_daily_limit"
    assert sent_to("founder@acme.test") == ADDRESS_EMAILS_PER_DAY


def test_the_count_is_per_address(committed, no_intervals):
    for n in range(ADDRESS_EMAILS_PER_DAY + 1):
        sign_up(committed, "one@example.test", n)
    sign_up(committed, "two@example.test", 99)
    assert sent_to("one@example.test") == ADDRESS_EMAILS_PER_DAY
    assert sent_to("two@example.test") == 1


def test_one_link_a_minute(committed):
    for n in range(3):
        sign_up(committed, "new@example.test", n)
    assert sent_to("new@example.test") == 1
