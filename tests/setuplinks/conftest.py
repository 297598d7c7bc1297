"""Fixtures of the setup-link tests: a link, and a browser that opened it."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from rolemapping.models import Membership
from setuplinks.models import SetupLink
from setuplinks.services import setup_link_create

IT_EMAIL = "it-admin@acme.test"
CLIENT_ID = "console-setup-app"
CLIENT_SECRET = "setup-app-secret-Qw8-never-shown"
CALLBACK = "http://testserver/sso/callback/"
TOKEN_RE = re.compile(r"http://testserver/setup/([A-Za-z0-9_-]{20,})/")


@pytest.fixture
def owner_membership(org) -> Membership:
    return Membership.objects.select_related("organization", "role", "user").get(
        organization=org, user=org.owner
    )


def new_link(membership: Membership, **fields) -> tuple[SetupLink, str]:
    """A link and its token."""
    link, url = setup_link_create(
        actor_membership=membership, email=fields.pop("email", IT_EMAIL), **fields
    )
    match = TOKEN_RE.fullmatch(url)
    assert match, url
    return link, match.group(1)


def open_link(token: str) -> Client:
    """A fresh browser that opened the link (the POST on its page)."""
    browser = Client()
    response = browser.post(f"/setup/{token}/")
    assert response.status_code == 302, response.content.decode()[:1000]
    assert response["Location"] == "/setup/"
    return browser


@pytest.fixture
def link_and_token(owner_membership):
    return new_link(owner_membership)


@pytest.fixture
def it_browser(link_and_token) -> Client:
    return open_link(link_and_token[1])


@pytest.fixture
def it_idp(clean_oidc_idp):
    """The real test IdP with the app the IT admin registers, and their own
    account there."""
    clean_oidc_idp.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
    clean_oidc_idp.add_account(
        "00u-it", IT_EMAIL, groups=["it-admins"], name="Ivy Admin"
    )
    return clean_oidc_idp


def configure(browser: Client, issuer: str, **fields) -> object:
    """Post the wizard's form (the connection form's fields)."""
    data = {
        "name": "Okta",
        "provider": "okta",
        "issuer_url": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": "openid email profile groups",
        "groups_claim": "groups",
        "email_claim": "email",
        "leeway_seconds": "60",
        **fields,
    }
    return browser.post("/setup/configure/", data)
