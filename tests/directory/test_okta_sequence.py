"""Okta's published SCIM 2.0 test sequence ("Okta SCIM 2.0 SPEC Test"), step
by step against the app, with the requests Okta's provisioning sends."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from organizations.models import AuditEvent
from rolemapping.models import Membership
from tests.directory.conftest import DOMAIN, user_body

pytestmark = pytest.mark.django_db

SCIM_JSON = "application/scim+json"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def by_username(scim, user_name: str, start: int = 1, count: int = 2):
    query = quote(f'userName eq "{user_name}"')
    return scim.get(f"Users?filter={query}&startIndex={start}&count={count}")


def test_okta_spec_sequence_passes_from_start_to_end(scim, org):
    # 1. Required: the ServiceProviderConfig.
    response = scim.get("ServiceProviderConfig")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(SCIM_JSON)
    config = response.json()
    assert config["patch"]["supported"] is True
    assert config["filter"]["supported"] is True
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"

    # 2. GET Users with count=1: a ListResponse, whatever is there.
    response = scim.get("Users?count=1&startIndex=1")
    assert response.status_code == 200
    listing = response.json()
    assert listing["schemas"] == [LIST]
    assert {"totalResults", "Resources", "startIndex", "itemsPerPage"} <= set(listing)

    # 3. A random userName finds no one (Okta checks before it creates).
    random_name = f"{uuid.uuid4().hex}@{DOMAIN}"
    response = by_username(scim, random_name)
    assert response.status_code == 200
    assert response.json()["totalResults"] == 0
    assert response.json()["Resources"] == []

    # 4. Create that user.
    response = scim.post("Users", user_body(random_name))
    assert response.status_code == 201
    created = response.json()
    assert created["userName"] == random_name and created["active"] is True
    assert "password" not in created
    assert response["Location"].endswith(f"/scim/v2/acme/Users/{created['id']}")

    # 5. Read them back by id.
    response = scim.get(f"Users/{created['id']}")
    assert response.status_code == 200
    assert response.json()["userName"] == random_name

    # 6. The filter now finds exactly them.
    response = by_username(scim, random_name)
    assert response.json()["totalResults"] == 1
    assert response.json()["Resources"][0]["id"] == created["id"]

    # 7. userName matches without regard to case.
    response = by_username(scim, random_name.upper())
    assert response.json()["totalResults"] == 1

    # 8. Creating them again is a conflict Okta understands (409, uniqueness).
    response = scim.post("Users", user_body(random_name))
    assert response.status_code == 409
    error = response.json()
    assert error["schemas"] == [ERROR]
    assert error["scimType"] == "uniqueness" and error["status"] == "409"

    # 9. Deactivate, Okta's way: replace with a value object.
    response = scim.patch(
        f"Users/{created['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    membership = Membership.objects.get(user__email=random_name)
    assert membership.is_active is False and membership.directory_suspended

    # 10. A user that does not exist is a SCIM 404.
    response = scim.get(f"Users/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["schemas"] == [ERROR]
    assert response.json()["status"] == "404"

    actions = set(
        AuditEvent.objects.filter(organization=org).values_list("action", flat=True)
    )
    assert {"directory.user_created", "directory.user_updated"} <= actions


def test_a_provisioned_user_gets_a_directory_managed_membership(scim, org):
    created = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()

    membership = Membership.objects.select_related("role", "user").get(
        organization=org, user__email=f"ada@{DOMAIN}"
    )
    assert membership.is_active and membership.managed_by_directory
    assert membership.role.slug == "member"  # the default role
    assert not membership.user.has_usable_password()
    assert membership.user.email_verified_at is None  # proven at first sign-in
    event = AuditEvent.objects.get(action="directory.user_created")
    assert event.actor is None
    assert event.details["by"] == "directory" and event.details["token"] == "Okta"
    assert event.details["scim_id"] == created["id"]


def test_okta_pages_through_users_with_start_index_and_count(scim):
    for n in range(5):
        assert scim.post("Users", user_body(f"u{n}@{DOMAIN}")).status_code == 201

    first = scim.get("Users?startIndex=1&count=2").json()
    third = scim.get("Users?startIndex=5&count=2").json()
    past = scim.get("Users?startIndex=9&count=2").json()

    assert (first["totalResults"], first["itemsPerPage"]) == (5, 2)
    assert [r["userName"] for r in first["Resources"]] == [
        f"u0@{DOMAIN}",
        f"u1@{DOMAIN}",
    ]
    assert [r["userName"] for r in third["Resources"]] == [f"u4@{DOMAIN}"]
    assert past["Resources"] == [] and past["startIndex"] == 9
    assert scim.get("Users?count=0").json()["Resources"] == []


def test_put_replaces_the_profile_and_can_reactivate(scim):
    created = scim.post("Users", user_body(f"ada@{DOMAIN}", active=False)).json()
    assert created["active"] is False

    body = user_body(f"ada@{DOMAIN}", displayName="Ada King", active=True)
    response = scim.put(f"Users/{created['id']}", body)

    assert response.status_code == 200
    assert response.json()["displayName"] == "Ada King"
    membership = Membership.objects.get(user__email=f"ada@{DOMAIN}")
    assert membership.is_active and not membership.directory_suspended


def test_a_userName_outside_the_verified_domains_is_refused(scim):
    response = scim.post("Users", user_body("mallory@evil-corp.com"))

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert "evil-corp.com" in response.json()["detail"]
    assert not Membership.objects.filter(user__email="mallory@evil-corp.com").exists()


def test_a_userName_cannot_be_changed_to_another_address(scim):
    created = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()

    response = scim.put(f"Users/{created['id']}", user_body(f"eve@{DOMAIN}"))

    assert response.status_code == 400
    assert response.json()["scimType"] == "mutability"


def test_filters_by_external_id_and_combined_with_and(scim):
    created = scim.post("Users", user_body(f"ada@{DOMAIN}", externalId="00uX")).json()
    scim.post("Users", user_body(f"bob@{DOMAIN}", externalId="00uY"))

    found = scim.get("Users?filter=" + quote('externalId eq "00uX"')).json()
    both = scim.get(
        "Users?filter=" + quote(f'userName eq "ADA@{DOMAIN}" and externalId eq "00uX"')
    ).json()
    neither = scim.get(
        "Users?filter=" + quote(f'userName eq "ada@{DOMAIN}" and externalId eq "00uY"')
    ).json()

    assert [r["id"] for r in found["Resources"]] == [created["id"]]
    assert [r["id"] for r in both["Resources"]] == [created["id"]]
    assert neither["totalResults"] == 0


@pytest.mark.parametrize(
    "expression",
    ['userName co "ada"', 'userName eq "a" or userName eq "b"', "userName eq"],
)
def test_an_unsupported_or_broken_filter_is_invalid_filter(scim, expression):
    response = scim.get(f"Users?filter={quote(expression)}")

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidFilter"


def test_post_search_filters_and_pages_like_a_get(scim):
    for n in range(3):
        scim.post("Users", user_body(f"u{n}@{DOMAIN}"))

    found = scim.post(
        "Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": f'userName eq "U1@{DOMAIN}"',
            "attributes": ["userName"],
        },
    )
    page = scim.post("Users/.search", {"startIndex": 2, "count": 1})

    assert found.status_code == 200
    resources = found.json()["Resources"]
    assert [r["userName"] for r in resources] == [f"u1@{DOMAIN}"]
    assert "displayName" not in resources[0] and "id" in resources[0]
    assert page.json()["totalResults"] == 3
    assert [r["userName"] for r in page.json()["Resources"]] == [f"u1@{DOMAIN}"]
    assert scim.post(".search", {}).status_code == 501
    assert scim.post("Users/.search", {"count": "many"}).status_code == 400


def test_attributes_and_excluded_attributes_select_what_is_answered(scim):
    created = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()

    only = scim.get(f"Users/{created['id']}?attributes=userName,active").json()
    without = scim.get(f"Users/{created['id']}?excludedAttributes=name,emails").json()
    broken = scim.get(f"Users/{created['id']}?attributes=userName&excludedAttributes=x")

    assert set(only) == {"schemas", "id", "userName", "active"}
    assert "name" not in without and "emails" not in without
    assert without["userName"] == f"ada@{DOMAIN}"
    assert broken.status_code == 400
