"""Fixtures of the accounts tests."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import email_proof_email_queue
from tests.factories import make_org, make_user

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
    """Sign up through the form; the email with the link goes out. Nothing
    else exists until the link is opened (``signed_up``)."""

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
def signed_up(client, sign_up):
    """Someone who signed up as founder@acme.test and opened the link with
    their password: the owner of acme, signed in."""
    from .helpers import signup_link

    sign_up(client)
    response = client.post(signup_link("founder@acme.test"), {"password": PASSPHRASE})
    assert response.status_code == 302, response
    return User.objects.get(email="founder@acme.test")


@pytest.fixture
def unproven_owner(committed):
    """founder@acme.test, owner of acme, with an unproven address: as sign-up
    made owners before it waited for its link (such accounts exist still).
    Their confirmation link has been emailed, as the banner sends it."""
    user = make_user("founder@acme.test", PASSPHRASE, proven=False)
    make_org("acme", owner=user, name="Acme Inc")
    with committed():
        assert email_proof_email_queue(user_id=user.pk)
    return user


@pytest.fixture
def founder(client, unproven_owner):
    """``unproven_owner``, signed in."""
    sign_in(client, "founder@acme.test")
    return unproven_owner
