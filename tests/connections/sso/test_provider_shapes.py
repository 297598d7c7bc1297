"""Sign-ins through the real OpenID Provider shaped like each provider.

tests/idp/server.mjs serves an Entra-shaped issuer (/<tenant>/v2.0: tid, oid,
no email_verified, GUID groups, overage pointers), Google-shaped accounts (hd,
no groups) and an Okta custom authorization server (/oauth2/default) whose
groups come from UserInfo only. A warm sign-in makes one back-channel request
when the ID token carries the groups, two when only UserInfo has them.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from connections.models import SsoIdentity
from rolemapping.models import Membership

from .helpers import assert_refused, make_connection, map_group, start_login

pytestmark = pytest.mark.django_db

CLIENT_ID = "console-app"
CLIENT_SECRET = "app-secret-1"
CALLBACK = "http://testserver/sso/callback/"
OID = "7d1e0c55-3b1a-4a52-9c3e-5a0d2b6f7e11"
ENGINEERING = "a1b2c3d4-0000-4000-8000-00000000e001"


@pytest.fixture
def idp(clean_oidc_idp):
    clean_oidc_idp.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
    return clean_oidc_idp


def connect(org, issuer, provider, **fields):
    return make_connection(
        org,
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        provider=provider,
        **fields,
    )


def sign_in(idp, email="ada@acme.test", client=None):
    client = client or Client()
    request = start_login(client, "acme")
    back = idp.login(idp.http_session(), request["_url"], email)
    return client, client.get(back)


def server_side(idp, issuer_path, *, v1="/v1"):
    counts = idp.request_counts()
    names = {
        "discovery": f"{issuer_path}/.well-known/openid-configuration",
        "keys": f"{issuer_path}{v1}/keys",
        "token": f"{issuer_path}{v1}/token",
        "userinfo": f"{issuer_path}{v1}/userinfo",
    }
    return {name: counts.get(path, 0) for name, path in names.items()}


# ---------------------------------------------------------------- Entra ID


def add_entra_account(idp, groups=(ENGINEERING,), **claims):
    idp.add_account(
        "entra-pairwise-sub",
        "ada@acme.test",
        groups=groups,
        omit=["email"],  # many work accounts have no mail attribute
        claims={"tid": idp.entra_tenant, "oid": OID, **claims},
    )


def test_entra_shaped_sign_in_with_guid_groups_and_one_warm_request(acme, idp):
    add_entra_account(idp)
    map_group(acme, ENGINEERING, "admin")
    connect(acme, idp.entra_issuer, "entra", scopes="openid email profile")
    _client, response = sign_in(idp)
    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert Membership.objects.get(user=ada, organization=acme).role.slug == "admin"
    assert SsoIdentity.objects.get(user=ada).subject == f"{idp.entra_tenant}:{OID}"

    idp.reset_counts()
    _client, response = sign_in(idp)

    assert response.status_code == 302
    path = f"/{idp.entra_tenant}/v2.0"
    assert server_side(idp, path) == {
        "discovery": 0,
        "keys": 0,
        "token": 1,
        "userinfo": 0,
    }


def test_entra_shaped_token_from_another_tenant_is_refused(acme, idp):
    add_entra_account(idp, tid="72f988bf-86f1-41af-91ab-2d7cd011db47")
    connect(acme, idp.entra_issuer, "entra", scopes="openid email profile")

    client, response = sign_in(idp)

    assert_refused(client, response, "entra_tenant")
    assert not User.objects.filter(email="ada@acme.test").exists()


def test_entra_shaped_overage_is_resolved_through_the_fake_graph(acme, idp, fake_graph):
    add_entra_account(
        idp,
        groups=None,
        _claim_names={"groups": "src1"},
        _claim_sources={
            "src1": {"endpoint": "https://graph.windows.net/t/users/u/getMemberObjects"}
        },
    )
    fake_graph.add_groups(None, {ENGINEERING: "Engineering"})
    map_group(acme, ENGINEERING, "admin")
    connect(
        acme,
        idp.entra_issuer,
        "entra",
        scopes="openid email profile",
        groups_from_graph=True,
    )

    _client, response = sign_in(idp)

    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert Membership.objects.get(user=ada, organization=acme).role.slug == "admin"
    assert len(fake_graph.requests) == 1
    assert fake_graph.requests[0].authorization.startswith("Bearer ")


def test_entra_shaped_overage_without_graph_is_refused(acme, idp, fake_graph):
    add_entra_account(
        idp,
        groups=None,
        _claim_names={"groups": "src1"},
        _claim_sources={"src1": {"endpoint": "https://graph.windows.net/x"}},
    )
    map_group(acme, ENGINEERING, "admin")
    connect(acme, idp.entra_issuer, "entra", scopes="openid email profile")

    client, response = sign_in(idp)

    event = assert_refused(client, response, "role")
    assert "Groups assigned to the application" in event.detail
    assert fake_graph.requests == []


# ---------------------------------------------------------------- Google


def test_google_shaped_sign_in_gets_the_default_role(acme, idp):
    idp.add_account("1098", "ada@acme.test", groups=None, claims={"hd": "acme.test"})
    connect(acme, idp.issuer, "google", scopes="openid email profile")

    _client, response = sign_in(idp)

    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert Membership.objects.get(user=ada, organization=acme).role.slug == "member"


def test_google_shaped_consumer_account_is_refused(acme, idp):
    idp.add_account("1099", "ada@acme.test", groups=None)
    connect(acme, idp.issuer, "google", scopes="openid email profile")

    client, response = sign_in(idp)

    assert_refused(client, response, "google_hd")
    assert not User.objects.filter(email="ada@acme.test").exists()


# ---------------------------------------------------------------- Okta


def test_okta_custom_server_groups_from_userinfo_cost_one_more_request(acme, idp):
    idp.add_account(
        "00u-ada", "ada@acme.test", groups=["Engineering"], userinfo_only=["groups"]
    )
    map_group(acme, "Engineering", "admin")
    connect(acme, idp.path_issuer, "okta")
    _client, response = sign_in(idp)
    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert Membership.objects.get(user=ada, organization=acme).role.slug == "admin"

    idp.reset_counts()
    _client, response = sign_in(idp)

    assert response.status_code == 302
    assert server_side(idp, "/oauth2/default") == {
        "discovery": 0,
        "keys": 0,
        "token": 1,
        "userinfo": 1,
    }


def test_okta_custom_server_groups_in_the_id_token_cost_one_request(acme, idp):
    idp.add_account("00u-ada", "ada@acme.test", groups=["Engineering"])
    map_group(acme, "Engineering", "admin")
    connect(acme, idp.path_issuer, "okta")
    sign_in(idp)

    idp.reset_counts()
    _client, response = sign_in(idp)

    assert response.status_code == 302
    assert server_side(idp, "/oauth2/default") == {
        "discovery": 0,
        "keys": 0,
        "token": 1,
        "userinfo": 0,
    }


def test_test_sign_in_remembers_graphs_group_names_for_the_mapping_page(
    owner_client, acme, idp, fake_graph
):
    add_entra_account(
        idp,
        groups=None,
        _claim_names={"groups": "src1"},
        _claim_sources={"src1": {"endpoint": "https://graph.windows.net/x"}},
    )
    fake_graph.add_groups(None, {ENGINEERING: "Engineering"})
    map_group(acme, ENGINEERING, "admin")
    connection = connect(
        acme,
        idp.entra_issuer,
        "entra",
        scopes="openid email profile",
        groups_from_graph=True,
    )
    started = owner_client.post(f"/orgs/acme/connections/{connection.pk}/test-signin/")
    assert started.status_code == 302, started.content.decode()[:2000]
    back = idp.login(idp.http_session(), started["Location"], "ada@acme.test")
    result = owner_client.get(back, follow=True)
    page = result.content.decode()
    assert "Engineering" in page and ENGINEERING in page

    mappings = owner_client.get("/orgs/acme/mappings/").content.decode()
    row = mappings.split(f"<code>{ENGINEERING}</code>")[1].split("</td>")[0]
    assert "Engineering" in row
    as_json = owner_client.get(
        "/orgs/acme/mappings/", HTTP_ACCEPT="application/json"
    ).json()
    assert as_json["mappings"][0]["display_name"] == "Engineering"
