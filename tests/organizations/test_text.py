"""Names are one line of visible text; subjects are folded onto one line."""

from __future__ import annotations

import pytest
from django.urls import reverse

from organizations.errors import ServiceError
from organizations.models import Organization
from organizations.services import organization_create
from organizations.text import email_subject, name_clean
from tests.factories import make_user

HOSTILE = [
    "Acme\nInc",
    "Acme\r\nBcc: x@evil.test",
    "Acme\tInc",
    "Acme\x00",
    "Acme\u2028Inc",  # line separator
    "Acme\u202eInc",  # right-to-left override
    "Acme\x85Inc",  # next line (C1)
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_name_with_a_control_character_is_refused(name):
    with pytest.raises(ServiceError) as refused:
        name_clean(name, what="organization")
    assert refused.value.code == "name_control_character"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_an_empty_or_too_long_name_is_refused(name):
    with pytest.raises(ServiceError) as refused:
        name_clean(name, what="organization")
    assert refused.value.code == "name_length"


def test_an_ordinary_name_is_kept_stripped():
    assert name_clean("  Acme — Zürich  ", what="organization") == "Acme — Zürich"


@pytest.mark.django_db
@pytest.mark.parametrize("name", HOSTILE[:3])
def test_an_organization_cannot_be_created_with_a_line_break(name):
    with pytest.raises(ServiceError) as refused:
        organization_create(name=name, login_path="acme", owner=make_user("o@a.test"))
    assert refused.value.code == "name_control_character"
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_a_connection_name_with_a_line_break_is_refused_on_the_form(owner_client):
    response = owner_client.post(
        reverse("connection_new", args=["acme"]),
        {
            "name": "Okta\r\nprod",
            "provider": "okta",
            "issuer_url": "https://acme.okta.example",
            "client_id": "cid",
            "client_secret": "s3cret-value-xyz",
            "scopes": "openid email profile",
            "groups_claim": "groups",
            "email_claim": "email",
        },
    )
    assert response.status_code == 400
    assert "one line" in response.content.decode()


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("Acme\r\nBcc: x@evil.test invited you", "Acme Bcc: x@evil.test invited you"),
        ("a\u2028b\x00c", "a b c"),
        ("x" * 500, "x" * 199 + "…"),
    ],
)
def test_email_subjects_are_one_folded_line(text, subject):
    assert email_subject(text) == subject
