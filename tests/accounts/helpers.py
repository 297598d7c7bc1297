"""Steps shared by the accounts tests: sign-in and the emailed links."""

from __future__ import annotations

import html
import re

from django.core import mail
from django.test import Client
from django.urls import reverse

PASSPHRASE = "a-long-and-unusual-passphrase"
CONFIRM_LINK = re.compile(r"http://testserver(/accounts/email/confirm/[^/\s\"]+/)")


def sign_in(client: Client, email: str, password: str = PASSPHRASE):
    return client.post(reverse("login"), {"username": email, "password": password})


def confirm_link(to: str) -> str:
    """The path of the confirmation link in the latest email to ``to``."""
    message = next(m for m in reversed(mail.outbox) if m.to == [to])
    match = CONFIRM_LINK.search(str(message.body))
    assert match, message.body
    return match.group(1)


def text_of(response) -> str:
    return html.unescape(response.content.decode())
