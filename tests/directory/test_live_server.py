"""A directory's calls over real HTTP: the app behind Django's live server, a
plain HTTP client in front, as Okta's provisioning agent talks to it."""

from __future__ import annotations

import pytest
import requests

from directory.services import token_create
from organizations.models import Organization
from rolemapping.models import Membership
from tests.directory.conftest import DOMAIN, owner_membership, user_body, verify_domain

pytestmark = pytest.mark.django_db(transaction=True)


def test_okta_provisions_and_deactivates_over_http(live_server, org):
    verify_domain(org)
    Organization.objects.filter(pk=org.pk).update(default_role="member")
    _row, token = token_create(actor_membership=owner_membership(org), name="Okta")
    http = requests.Session()
    http.headers.update(
        {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    )
    base = f"{live_server.url}/scim/v2/acme/"

    config = http.get(base + "ServiceProviderConfig", timeout=10)
    assert config.status_code == 200
    assert config.headers["Content-Type"].startswith("application/scim+json")

    email = f"ada@{DOMAIN}"
    lookup = http.get(
        base + "Users",
        params={"filter": f'userName eq "{email}"', "startIndex": 1, "count": 2},
        timeout=10,
    )
    assert lookup.json()["totalResults"] == 0
    created = http.post(base + "Users", json=user_body(email), timeout=10)
    assert created.status_code == 201
    again = http.post(base + "Users", json=user_body(email), timeout=10)
    assert again.status_code == 409

    deactivated = http.patch(
        base + f"Users/{created.json()['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        timeout=10,
    )
    assert deactivated.status_code == 200
    assert Membership.objects.get(user__email=email).is_active is False

    other = requests.get(base + "Users", timeout=10)
    assert other.status_code == 401
    assert other.headers["WWW-Authenticate"].startswith("Bearer")
