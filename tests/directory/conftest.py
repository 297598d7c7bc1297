"""Fixtures for directory sync: an organization with a verified domain, its
SCIM token, and a client that speaks SCIM with it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from directory.services import token_create
from domains.models import Domain
from organizations.models import Organization
from rolemapping.models import Membership

# Not .test: scim2-models validates emails[].value, and reserved names fail.
DOMAIN = "acme-corp.com"


def verify_domain(org, name: str = DOMAIN) -> Domain:
    return Domain.objects.create(
        organization=org, name=name, token="t", status=Domain.Status.VERIFIED
    )


class Scim:
    """A SCIM client: the base URL, the bearer token, JSON in and out."""

    def __init__(self, client: Client, login_path: str, token: str) -> None:
        self.client = client
        self.base = f"/scim/v2/{login_path}/"
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None
    ):
        data = (
            raw if raw is not None else (json.dumps(body) if body is not None else "")
        )
        return self.client.generic(
            method,
            self.base + path,
            data=data,
            content_type="application/scim+json",
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
        )

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body: Any):
        return self.call("POST", path, body)

    def put(self, path: str, body: Any):
        return self.call("PUT", path, body)

    def patch(self, path: str, body: Any):
        return self.call("PATCH", path, body)

    def delete(self, path: str):
        return self.call("DELETE", path)


def owner_membership(org) -> Membership:
    return Membership.objects.select_related("user", "role", "organization").get(
        organization=org, user=org.owner
    )


@pytest.fixture
def domain(org):
    return verify_domain(org)


@pytest.fixture
def token(org, domain):
    # Everyone the directory pushes gets in as a member unless a group maps.
    Organization.objects.filter(pk=org.pk).update(default_role="member")
    org.refresh_from_db()
    _row, raw = token_create(actor_membership=owner_membership(org), name="Okta")
    return raw


@pytest.fixture
def scim(org, token):
    return Scim(Client(), org.login_path, token)


def user_body(email: str, **extra: Any) -> dict[str, Any]:
    local = email.split("@")[0]
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": local.title(), "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"{local.title()} Lovelace",
        "locale": "en-US",
        "externalId": f"00u{abs(hash(email)) % 10**8}",
        "groups": [],
        "password": "never-stored-1A!",
        "active": True,
        **extra,
    }
