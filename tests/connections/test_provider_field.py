"""The ``provider`` field on the connection pages: its values, its defaults,
what changing it does to the draft, and the trust rule the page explains."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connections.models import Connection
from connections.services.connections import connection_update

from .conftest import CLIENT_ID, SECRET, make_connection

pytestmark = pytest.mark.django_db

TENANT = "3f6a5c1e-0b7d-4c2a-9e8f-1a2b3c4d5e6f"
ENTRA_ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
FORM = {
    "name": "Company IdP",
    "issuer_url": "https://acme.okta.example",
    "client_id": CLIENT_ID,
    "client_secret": SECRET,
}


def create(owner_client, **fields):
    return owner_client.post(reverse("connection_new", args=["acme"]), FORM | fields)


def test_a_script_that_leaves_the_provider_out_gets_oidc(owner_client, org):
    assert create(owner_client).status_code == 302
    assert Connection.objects.get(organization=org).provider == "oidc"


@pytest.mark.parametrize("provider", ["okta", "entra", "google", "oidc"])
def test_every_contract_provider_is_accepted(owner_client, org, provider):
    issuer = ENTRA_ISSUER if provider == "entra" else FORM["issuer_url"]
    response = create(owner_client, provider=provider, issuer_url=issuer)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Connection.objects.get(organization=org).provider == provider


def test_an_unknown_provider_is_a_form_error(owner_client, org):
    response = create(owner_client, provider="saml")
    assert response.status_code == 400
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("provider", "scopes"),
    [
        ("okta", "openid email profile groups"),
        ("oidc", "openid email profile groups"),
        ("entra", "openid email profile"),
        ("google", "openid email profile"),
    ],
)
def test_empty_scopes_get_the_providers_defaults(owner_client, org, provider, scopes):
    issuer = ENTRA_ISSUER if provider == "entra" else FORM["issuer_url"]
    create(owner_client, provider=provider, issuer_url=issuer, scopes="")
    assert Connection.objects.get(organization=org).draft.scopes == scopes


@pytest.mark.parametrize("segment", ["common", "organizations", "consumers"])
def test_entra_multi_tenant_issuer_is_refused_with_the_fix(owner_client, org, segment):
    response = create(
        owner_client,
        provider="entra",
        issuer_url=f"https://login.microsoftonline.com/{segment}/v2.0",
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "multi-tenant" in page
    assert "Directory (tenant) ID" in page
    assert not Connection.objects.exists()


def test_the_same_issuer_is_fine_for_a_generic_provider(owner_client, org):
    response = create(
        owner_client,
        provider="oidc",
        issuer_url="https://login.microsoftonline.com/common/v2.0",
    )
    assert response.status_code == 302


def test_changing_the_provider_makes_a_new_draft_that_needs_a_new_check(
    owner_membership,
):
    connection = make_connection(owner_membership, "https://acme.okta.example")
    before = connection.draft_id

    connection_update(
        actor_membership=owner_membership,
        connection=connection,
        name=connection.name,
        provider="oidc",
        issuer_url="https://acme.okta.example",
        client_id=CLIENT_ID,
    )

    connection.refresh_from_db()
    assert connection.provider == "oidc"
    assert connection.draft_id != before


def test_graph_groups_setting_is_saved_and_shown(owner_client, org):
    create(
        owner_client,
        provider="entra",
        issuer_url=ENTRA_ISSUER,
        groups_from_graph="on",
    )
    connection = Connection.objects.get(organization=org)
    assert connection.draft.groups_from_graph is True
    page = owner_client.get(connection.get_absolute_url()).content.decode()
    assert "Groups from Microsoft Graph on overage" in page


def test_turning_graph_groups_on_is_a_new_draft_with_another_fingerprint(
    owner_membership,
):
    connection = make_connection(
        owner_membership, ENTRA_ISSUER, provider="entra", scopes="openid email"
    )
    before = connection.draft

    connection_update(
        actor_membership=owner_membership,
        connection=connection,
        name=connection.name,
        issuer_url=ENTRA_ISSUER,
        client_id=CLIENT_ID,
        scopes="openid email",
        groups_from_graph=True,
    )

    connection.refresh_from_db()
    assert connection.draft_id != before.pk
    assert connection.draft.fingerprint != before.fingerprint


@pytest.mark.parametrize(
    ("provider", "words"),
    [
        ("entra", ["tid", "xms_edov", "/common", "docs/entra-setup.md"]),
        ("google", ["hd", "consumer Google account", "docs/google-setup.md"]),
        ("okta", ["email_verified", "docs/okta-setup.md"]),
        ("oidc", ["email_verified"]),
    ],
)
def test_the_connection_page_explains_the_providers_trust_rule(
    owner_client, owner_membership, provider, words
):
    issuer = ENTRA_ISSUER if provider == "entra" else "https://acme.okta.example"
    connection = make_connection(owner_membership, issuer, provider=provider)
    page = owner_client.get(connection.get_absolute_url()).content.decode()
    section = page.split('id="trust-title"')[1].split("</section>")[0]
    for word in words:
        assert word in section
