"""Fixtures of the accounts tests."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User

from .helpers import PASSPHRASE, sign_in


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs what the code inside queues on commit (the
    emails), as the real commit at the end of a request would."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def sign_up(committed):
    """Sign up through the form; the confirmation email goes out."""

    def post(client: Client, email: str = "founder@acme.test", path: str = "acme"):
        with committed():
            return client.post(
                reverse("signup"),
                {
                    "email": email,
                    "password1": PASSPHRASE,
                    "password2": PASSPHRASE,
                    "org_name": "Acme Inc",
                    "login_path": path,
                },
            )

    return post


@pytest.fixture
def founder(client, sign_up):
    """Someone who signed up as founder@acme.test and signed in, unproven."""
    sign_up(client)
    sign_in(client, "founder@acme.test")
    return User.objects.get(email="founder@acme.test")
