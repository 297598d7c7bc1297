"""Steps shared by the accounts tests: sign-in and the emailed links."""

from __future__ import annotations

import html
import re

from django.core import mail
from django.test import Client
from django.urls import reverse

PASSPHRASE = "a-long-and-unusual-passphrase"
CONFIRM_LINK = re.compile(r"http://testserver(/accounts/email/confirm/[^/\s\"]+/)")
SIGNUP_LINK = re.compile(r"http://testserver(/accounts/signup/confirm/[^/\s\"]+/)")


def sign_in(client: Client, email: str, password: str = PASSPHRASE):
    return client.post(reverse("login"), {"username": email, "password": password})


def _link(to: str, pattern: re.Pattern[str]) -> str:
    bodies = [str(m.body) for m in mail.outbox if m.to == [to]]
    match = next(
        (pattern.search(b) for b in reversed(bodies) if pattern.search(b)), None
    )
    assert match, bodies
    return match.group(1)


def confirm_link(to: str) -> str:
    """The path of the link in the latest email to ``to`` that confirms an
    existing account's address (the banner's)."""
    return _link(to, CONFIRM_LINK)


def signup_link(to: str) -> str:
    """The path of the link in the latest sign-up email to ``to``."""
    return _link(to, SIGNUP_LINK)


def text_of(response) -> str:
    return html.unescape(response.content.decode())
