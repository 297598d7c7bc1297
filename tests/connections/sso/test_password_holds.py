"""django-axes watches password sign-ins only: SSO neither trips nor feels it."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessLog
from django.test import Client
from django.urls import reverse

from tests.factories import make_user

from .helpers import callback, signed_in_user_id, start_login

pytestmark = pytest.mark.django_db


def test_a_held_password_sign_in_does_not_stop_sso_from_the_same_address(
    acme, acme_connection, fake_idp
):
    make_user("ada@acme.test")
    browser = Client()
    for _ in range(6):
        response = browser.post(
            reverse("login"), {"username": "ada@acme.test", "password": "wrong"}
        )
    assert response.status_code == 429

    request = start_login(browser)
    fake_idp.next_id_token = fake_idp.sign(fake_idp.claims(request["nonce"]))
    response = callback(browser, fake_idp.issuer, request["state"])

    assert response.status_code == 302, response.content.decode()[:2000]
    assert signed_in_user_id(browser) is not None
    # The SSO sign-in neither cleared nor added to the password attempts.
    assert AccessAttempt.objects.get().failures_since_start == 6
    assert not AccessLog.objects.exists()
