"""SCIM tokens (created once, hashed, per organization, revocable), the
console page, and the endpoint's safety: tenant isolation, rate limit, size
cap, and no 500 for any payload."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from directory.models import ScimToken, ScimUser
from organizations.models import AuditEvent
from tests.conftest import client_for
from tests.directory.conftest import (
    DOMAIN,
    Scim,
    owner_membership,
    user_body,
    verify_domain,
)
from tests.factories import make_member

pytestmark = pytest.mark.django_db


def create_token(client: Client, name: str = "Okta") -> dict:
    response = client.post(
        reverse("directory", args=["acme"]),
        {"name": name},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_token_is_shown_once_and_stored_only_as_a_digest(owner_client, org):
    created = create_token(owner_client)

    assert set(created) == {"id", "name", "token", "created_at"}
    row = ScimToken.objects.get(pk=created["id"])
    assert created["token"] not in row.token_hash and row.token_hash
    assert created["token"].startswith(row.prefix)
    page = owner_client.get(reverse("directory", args=["acme"])).content.decode()
    assert created["token"] not in page
    assert row.prefix in page
    assert "/scim/v2/acme/" in page
    audit = AuditEvent.objects.get(action="directory.token_created")
    assert created["token"] not in json.dumps(audit.details)


def test_the_html_form_shows_the_new_token_once_with_a_copy_button(owner_client, org):
    response = owner_client.post(reverse("directory", args=["acme"]), {"name": "Entra"})

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert 'data-copy-target="scim-new-token"' in body
    assert 'data-copy-target="scim-base-url"' in body
    token = ScimToken.objects.get(name="Entra")
    assert (
        owner_client.get(reverse("directory", args=["acme"]))
        .content.decode()
        .count(token.prefix)
        == 1
    )


def test_an_empty_name_is_refused_with_a_sentence(owner_client, org):
    response = owner_client.post(
        reverse("directory", args=["acme"]),
        {"name": " "},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "token_name_missing"


def test_members_below_admin_cannot_see_or_create_tokens(org, client):
    client_for(client, make_member(org, "member"))

    assert client.get(reverse("directory", args=["acme"])).status_code == 403
    assert (
        client.post(reverse("directory", args=["acme"]), {"name": "x"}).status_code
        == 403
    )
    assert not ScimToken.objects.exists()


def test_admins_can_and_the_nav_links_the_page(org, client):
    client_for(client, make_member(org, "admin"))

    page = client.get(reverse("member_list", args=["acme"])).content.decode()

    assert reverse("directory", args=["acme"]) in page
    assert create_token(client)["name"] == "Okta"


def test_a_revoked_token_is_refused_and_another_keeps_working(owner_client, org):
    verify_domain(org)
    old = create_token(owner_client, "Okta 2025")
    new = create_token(owner_client, "Okta 2026")

    response = owner_client.post(
        reverse("directory_token_revoke", args=["acme", old["id"]]),
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 200
    assert Scim(Client(), "acme", old["token"]).get("Users").status_code == 401
    assert Scim(Client(), "acme", new["token"]).get("Users").status_code == 200
    assert AuditEvent.objects.filter(action="directory.token_revoked").count() == 1


def test_a_token_works_only_on_its_own_organizations_base_url(
    scim, token, org, other_org
):
    other = owner_membership(other_org)
    verify_domain(other_org, "globex-corp.com")
    from directory.services import token_create

    _row, globex_token = token_create(actor_membership=other, name="Globex Okta")
    scim.post("Users", user_body(f"ada@{DOMAIN}"))

    crossed = Scim(Client(), "globex", token)
    response = crossed.get("Users")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert crossed.post("Users", user_body("eve@globex-corp.com")).status_code == 401
    # Globex's own token sees none of Acme's users.
    own = Scim(Client(), "globex", globex_token)
    assert own.get("Users").json()["totalResults"] == 0
    ada = ScimUser.objects.get()
    assert own.get(f"Users/{ada.pk}").status_code == 404
    assert own.delete(f"Users/{ada.pk}").status_code == 404


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer scim_" + "x" * 500],
)
def test_missing_or_wrong_credentials_are_a_scim_401(org, domain, header):
    response = Client().get("/scim/v2/acme/Users", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/scim+json")
    assert response.json()["status"] == "401"


def test_an_unknown_organization_is_a_401_not_a_hint(token):
    assert Scim(Client(), "no-such-org", token).get("Users").status_code == 401
    assert Scim(Client(), "BAD%00PATH", token).get("Users").status_code == 401


@override_settings(SCIM_RATE_LIMIT_PER_MINUTE=3)
def test_a_token_over_its_rate_limit_gets_429_with_retry_after(scim):
    codes = [scim.get("Users").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    response = scim.get("Users")
    assert response["Retry-After"] == "60"
    assert response.json()["status"] == "429"


@override_settings(SCIM_MAX_BODY_BYTES=1000)
def test_a_body_over_the_cap_is_413(scim):
    body = user_body(f"ada@{DOMAIN}", displayName="x" * 2000)

    response = scim.post("Users", body)

    assert response.status_code == 413
    assert not ScimUser.objects.exists()


HOSTILE_BODIES = [
    b"not json",
    b"\xff\xfe\x00",
    b"",
    b"[]",
    b'"a string"',
    b"null",
    b"12",
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps({"userName": 5}).encode(),
    json.dumps({"userName": ["a@acme-corp.com"]}).encode(),
    json.dumps({"userName": {"$ne": 1}}).encode(),
    json.dumps({"userName": None}).encode(),
    json.dumps({"userName": "x" * 300_000}).encode(),
    json.dumps({"userName": "a@acme-corp.com", "name": "flat"}).encode(),
    json.dumps(
        {"userName": "a@acme-corp.com", "active": {"deep": [1, {"x": []}]}}
    ).encode(),
    json.dumps({"userName": "a@acme-corp.com", "emails": "nope"}).encode(),
    json.dumps({"userName": "a@acme-corp.com", "emails": [{"value": 7}]}).encode(),
    json.dumps({"userName": "a@acme-corp.com", "schemas": "urn:x"}).encode(),
    json.dumps({"userName": "a@acme-corp.com", "externalId": ["x"]}).encode(),
    json.dumps({"userName": "a\x00@acme-corp.com"}).encode(),
    json.dumps({"userName": "ünï@acme-corp.com"}).encode(),
    json.dumps({"userName": "@@@"}).encode(),
    json.dumps({"a": {"b": {"c": {"d": {"e": {"f": [[[[[[[]]]]]]]}}}}}}).encode(),
    json.dumps({"userName": "a@acme-corp.com", "active": 10**400}).encode(),
]

HOSTILE_PATCHES = [
    {"Operations": "replace"},
    {"Operations": []},
    {"Operations": [None]},
    {"Operations": [{"op": "explode", "path": "active", "value": False}]},
    {"Operations": [{"op": "replace", "path": "nonexistent", "value": 1}]},
    {"Operations": [{"op": "replace", "path": "active", "value": [1, 2]}]},
    {"Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]},
    {"Operations": [{"op": "remove", "path": "userName"}]},
    {"Operations": [{"op": "replace", "value": "not an object"}]},
    {"Operations": [{"op": "add", "path": "name", "value": {"givenName": {"x": 1}}}]},
    {"Operations": [{"op": "replace", "path": "id", "value": "mine"}]},
    {"Operations": [{"op": "replace", "path": "userName", "value": 5}]},
    {"Operations": [{"op": "Remove", "path": "members", "value": [{"value": 1}]}]},
    {"Operations": [{"op": "replace", "value": {"active": "maybe"}}]},
    {"Operations": [{"op": "replace"}] * 2000},
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
@pytest.mark.parametrize("method,path", [("POST", "Users"), ("POST", "Groups")])
def test_a_hostile_create_body_is_a_scim_4xx_never_a_500(scim, body, method, path):
    response = scim.call(method, path, raw=body)

    assert 400 <= response.status_code < 500, response.content[:300]
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_a_hostile_replace_body_is_a_scim_4xx_never_a_500(scim, body):
    scim_id = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()["id"]

    response = scim.call("PUT", f"Users/{scim_id}", raw=body)

    assert 400 <= response.status_code < 500, response.content[:300]


@pytest.mark.parametrize("body", HOSTILE_PATCHES, ids=range(len(HOSTILE_PATCHES)))
def test_a_hostile_patch_is_a_scim_4xx_never_a_500(scim, body):
    scim_id = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()["id"]
    group_id = scim.post("Groups", {"displayName": "Eng"}).json()["id"]

    for path in (f"Users/{scim_id}", f"Groups/{group_id}"):
        response = scim.patch(path, body)
        assert 400 <= response.status_code < 500, (path, response.content[:300])
    assert ScimUser.objects.get().active is True


@pytest.mark.parametrize(
    "path",
    [
        "Users?filter=" + "(" * 5000,
        "Users?filter=userName%20eq%20%22" + "a" * 5000 + "%22",
        "Users?startIndex=abc",
        "Users?count=1e9",
        "Users?count=-5",
        "Users/not-a-uuid",
        "Users/" + "9" * 2000,
        "Groups?filter=members%20eq%20%22x%22",
        "Nope",
        "Schemas/urn:nope",
        "ResourceTypes/Nope",
    ],
)
def test_hostile_queries_are_answered_without_a_500(scim, path):
    response = scim.get(path)

    assert response.status_code in (200, 400, 404), response.content[:300]


def test_unsupported_methods_are_405(scim):
    assert scim.call("DELETE", "Users").status_code == 405
    assert scim.call("POST", "ServiceProviderConfig", {}).status_code == 405


def test_invisible_formatting_characters_are_dropped_from_profile_values(scim):
    body = user_body(f"ada@{DOMAIN}", displayName="\u202eAda\u0000")

    response = scim.post("Users", body)

    assert response.status_code == 201
    assert response.json()["displayName"] == "Ada"


def test_the_page_shows_counts_and_the_last_sync_events(scim, owner_client):
    scim.post("Users", user_body(f"ada@{DOMAIN}"))
    scim.post("Groups", {"displayName": "Eng"})

    page = owner_client.get(reverse("directory", args=["acme"])).content.decode()
    data = owner_client.get(
        reverse("directory", args=["acme"]), HTTP_ACCEPT="application/json"
    ).json()

    assert "directory.user_created" in page and "directory.group_created" in page
    assert "1 user provisioned" in page
    assert (data["users"], data["active_users"], data["groups"]) == (1, 1, 1)
    assert data["tokens"][0]["last_used_at"] is not None
    assert "token" not in data["tokens"][0]
    audit = owner_client.get(reverse("audit_log", args=["acme"])).content.decode()
    assert "Directory token “Okta”" in audit


HOSTILE_SEARCHES = [
    {"filter": 5},
    {"filter": ["userName eq", 3]},
    {"filter": "(" * 3000},
    {"startIndex": "1"},
    {"startIndex": True},
    {"count": 10**50},
    {"count": -1, "startIndex": -9},
    {"attributes": {"a": 1}},
    {"attributes": ["userName", 7]},
    {"attributes": "x" * 5000},
    {"attributes": "userName", "excludedAttributes": "name"},
    {"excludedAttributes": 'members[value eq "x"]'},
    {"sortBy": "userName", "sortOrder": "sideways"},
]


@pytest.mark.parametrize("body", HOSTILE_SEARCHES, ids=range(len(HOSTILE_SEARCHES)))
@pytest.mark.parametrize("path", ["Users/.search", "Groups/.search"])
def test_a_hostile_search_is_answered_without_a_500(scim, body, path):
    response = scim.post(path, body)

    assert response.status_code in (200, 400), response.content[:300]
    assert response["Content-Type"].startswith("application/scim+json")


@pytest.mark.parametrize(
    "query",
    [
        "attributes=" + "a," * 2000,
        "attributes=emails[type%20eq%20%22work%22]",
        "excludedAttributes=%00",
        "attributes=urn:nope:x",
    ],
)
def test_hostile_attribute_selections_are_answered_without_a_500(scim, query):
    created = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()

    for path in (f"Users/{created['id']}?{query}", f"Users?{query}", f"Groups?{query}"):
        response = scim.get(path)
        assert response.status_code in (200, 400), (path, response.content[:300])
