"""A connection's configuration is refused with a code for each mistake."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connections.models import Connection
from connections.services.connections import connection_update
from organizations.errors import PermissionDenied, ServiceError
from tests.connections.conftest import make_connection
from tests.factories import make_member

ISSUER = "https://acme.okta.example"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"issuer": " "}, "issuer_missing"),
        ({"issuer": "ftp://acme.example"}, "issuer_invalid"),
        ({"issuer": "https://acme.example/" + "x" * 500}, "issuer_too_long"),
        ({"client_id": ""}, "client_id_invalid"),
        ({"client_id": "a\tb"}, "client_id_invalid"),
        ({"secret": ""}, "client_secret_missing"),
        ({"secret": "s3cret\n"}, "client_secret_invalid"),
        ({"scopes": 'openid "email"'}, "scopes_invalid"),
        ({"scopes": "email profile"}, "scope_openid_missing"),
        ({"groups_claim": "my groups"}, "groups_claim_name_invalid"),
        ({"email_claim": "e mail"}, "email_claim_name_invalid"),
        ({"leeway_seconds": 601}, "leeway_invalid"),
        ({"leeway_seconds": "soon"}, "leeway_invalid"),
        ({"provider": "saml"}, "provider_invalid"),
        ({"name": "Okta\nprod"}, "name_control_character"),
        ({"name": ""}, "name_length"),
    ],
)
def test_a_bad_configuration_is_refused_with_a_code(owner_membership, fields, code):
    fields = {"issuer": ISSUER} | fields
    with pytest.raises(ServiceError) as refused:
        make_connection(owner_membership, fields.pop("issuer"), **fields)
    assert refused.value.code == code
    assert not Connection.objects.exists()


def test_a_draft_without_a_secret_cannot_be_saved_without_one(owner_membership):
    connection = make_connection(owner_membership, ISSUER)
    Connection.objects.filter(pk=connection.pk).update(draft=None)
    connection.refresh_from_db()
    with pytest.raises(ServiceError) as refused:
        connection_update(
            actor_membership=owner_membership,
            connection=connection,
            name="Okta",
            issuer_url=ISSUER,
            client_id="console-app",
        )
    assert refused.value.code == "client_secret_missing"


def test_only_the_owner_configures_connections(org):
    with pytest.raises(PermissionDenied) as refused:
        make_connection(make_member(org, "admin"), ISSUER)
    assert refused.value.code == "role_not_allowed"


def test_a_refused_check_answers_json_with_a_code(owner_client, owner_membership):
    connection = make_connection(owner_membership, ISSUER)
    Connection.objects.filter(pk=connection.pk).update(draft=None)
    response = owner_client.post(
        reverse("connection_test", args=["acme", connection.pk]),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "draft_missing"
    assert response.json()["error"]  # the sentence, for people
