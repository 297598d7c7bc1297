"""private_key_jwt against the real OpenID Provider (oidc-provider on loopback).

The IdP's client is registered with ``token_endpoint_auth_method:
private_key_jwt`` and a ``jwks_uri`` pointing at the console's JWKS view,
served by a live server: the IdP fetches the console's public keys itself.
The connection check and a member's sign-in pass; the IdP receives no secret,
refuses a replayed assertion, and no private key member is logged.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid

import pytest
import requests

from accounts.models import User
from connections.models import Connection, SignInEvent
from connections.services.signing_keys import (
    signing_key_activate,
    signing_key_add,
    signing_key_retire,
)
from tests.connections.conftest import (
    CLIENT_ID,
    REDIRECT_URI,
    make_connection,
    private_key_values,
)
from tests.connections.sso.helpers import (
    assert_refused,
    set_default_role,
    signed_in_user_id,
    start_login,
    verify_domain,
)

pytestmark = pytest.mark.django_db(transaction=True)

ASSERTION_FIELDS = ["client_assertion", "client_assertion_type", "client_id"]


@pytest.fixture
def console_jwks_uri(live_server, org) -> str:
    """Where the IdP fetches the console's keys: the JWKS view, served live."""
    return f"{live_server.url}/sso/jwks/{org.login_path}/"


def _register(idp, jwks_uri: str) -> None:
    """(Re-)register the console's app. oidc-provider keeps a client's key set
    as long as the JWKS answer's max-age says (5 minutes), per client metadata;
    a new ``client_name`` makes a new client object that reads the JWKS URL
    again, as the IdP would once its cached copy expires."""
    idp.add_client(
        CLIENT_ID,
        None,
        [REDIRECT_URI],
        post_logout_redirect_uris=["http://testserver/sso/logged-out/"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=jwks_uri,
        client_name=f"console {uuid.uuid4()}",
    )


@pytest.fixture
def idp(clean_oidc_idp, console_jwks_uri):
    _register(clean_oidc_idp, console_jwks_uri)
    clean_oidc_idp.add_account("00u-ada", "ada@acme.test", groups=["Engineering"])
    return clean_oidc_idp


@pytest.fixture
def connection(owner_membership, idp) -> Connection:
    return make_connection(
        owner_membership, idp.issuer, secret="", token_auth_method="private_key_jwt"
    )


def _publish(org, connection: Connection) -> None:
    """Test set-up: the draft goes live (publishing has its own tests)."""
    verify_domain(org, "acme.test")
    set_default_role(org, "member")
    connection.live = connection.draft
    connection.save(update_fields=["live"])


def _header(assertion: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(assertion.split(".")[0] + "=="))


def _assert_no_secret_sent(requests_seen: list[dict]) -> None:
    assert requests_seen
    for seen in requests_seen:
        assert seen["auth_scheme"] is None, seen
        assert "client_secret" not in seen["body_keys"], seen
        assert set(ASSERTION_FIELDS) <= set(seen["body_keys"]), seen
        assert seen["client_assertion"]


def test_the_check_passes_with_a_signed_assertion_and_no_secret(
    idp, owner_membership, connection, run_check
):
    check = run_check(owner_membership, connection)

    assert check.status == "passed", check.steps
    step = next(s for s in check.steps if s["key"] == "client_credentials")
    assert step["status"] == "passed"
    assert "signed client assertion" in step["detail"]
    assert check.result["token_endpoint_auth_method"] == "private_key_jwt"
    seen = idp.token_requests()
    _assert_no_secret_sent(seen)
    assert [s["error"] for s in seen] == [None]


def test_a_member_signs_in_with_private_key_jwt(
    client, org, idp, owner_membership, connection
):
    _publish(org, connection)
    request = start_login(client, "acme")
    back = idp.login(idp.http_session(), request["_url"], "ada@acme.test")

    response = client.get(back)

    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert signed_in_user_id(client) == str(ada.pk)
    assert SignInEvent.objects.get(outcome="success")
    seen = [s for s in idp.token_requests() if s["status"] == 200]
    _assert_no_secret_sent(seen)


def test_a_replayed_assertion_is_refused_by_the_idp(
    idp, owner_membership, connection, run_check
):
    assert run_check(owner_membership, connection).status == "passed"
    sent = idp.token_requests()[0]

    replay = requests.post(
        idp.metadata["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_assertion_type": (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ),
            "client_assertion": sent["client_assertion"],
        },
        timeout=10,
        proxies={"http": "", "https": ""},
    )

    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
    assert idp.token_requests()[-1]["error"] == "invalid_client"
    # The console's own next request signs a fresh one and passes.
    assert run_check(owner_membership, connection).status == "passed"


def test_a_key_the_idp_does_not_know_fails_the_check_with_a_fix(
    idp, owner_membership, connection, run_check, console_jwks_uri
):
    # The IdP holds a pasted copy of a key set without the console's key.
    idp.add_client(
        CLIENT_ID,
        None,
        [REDIRECT_URI],
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [{"kty": "EC", "crv": "P-256", "kid": "other",
                        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]},
    )  # fmt: skip

    check = run_check(owner_membership, connection)

    step = next(s for s in check.steps if s["key"] == "client_credentials")
    assert (check.status, step["status"]) == ("failed", "failed")
    assert "signed client assertion" in step["detail"]
    assert "JWKS URL" in step["fix"]


def test_rotation_keeps_the_check_passing_at_every_step(
    idp, owner_membership, connection, run_check, console_jwks_uri
):
    first = connection.signing_keys.get()
    assert run_check(owner_membership, connection).status == "passed"
    added = signing_key_add(
        actor_membership=owner_membership, connection=connection, alg="ES256"
    )
    # Published beside the active key; the IdP's cached copy still verifies.
    assert run_check(owner_membership, connection).status == "passed"
    _register(idp, console_jwks_uri)  # the IdP's cache expires: it reads both
    assert run_check(owner_membership, connection).status == "passed"
    signing_key_activate(
        actor_membership=owner_membership, connection=connection, kid=added.kid
    )
    assert run_check(owner_membership, connection).status == "passed"
    signing_key_retire(
        actor_membership=owner_membership, connection=connection, kid=first.kid
    )
    assert run_check(owner_membership, connection).status == "passed"
    kids = [
        json.loads(
            base64.urlsafe_b64decode(s["client_assertion"].split(".")[0] + "==")
        )["kid"]
        for s in idp.token_requests()
    ]
    assert kids == [first.kid, first.kid, first.kid, added.kid, added.kid]


def test_no_private_key_member_is_logged(
    client, org, idp, owner_membership, connection, run_check, caplog
):
    caplog.set_level(logging.DEBUG)
    _publish(org, connection)
    assert run_check(owner_membership, connection).status == "passed"
    request = start_login(client, "acme")
    back = idp.login(idp.http_session(), request["_url"], "ada@acme.test")
    assert client.get(back).status_code == 302

    logged = "\n".join(
        record.getMessage() + repr(record.__dict__) for record in caplog.records
    )
    for value in private_key_values(connection):
        assert value not in logged
    assert "PRIVATE KEY" not in logged


def test_an_idp_that_does_not_advertise_the_method_fails_the_check_by_name(
    idp, owner_membership, connection, run_check
):
    only_secrets = idp.metadata | {
        "token_endpoint_auth_methods_supported": ["client_secret_basic"]
    }
    idp.set_fault(idp.discovery_url, 200, body=only_secrets)

    check = run_check(owner_membership, connection)

    step = next(s for s in check.steps if s["key"] == "client_credentials")
    assert (check.status, step["status"]) == ("failed", "failed")
    assert "private_key_jwt" in step["detail"]
    assert "Public key / Private key" in step["fix"]
    assert idp.token_requests() == []


def test_a_sign_in_without_a_signing_key_is_refused_with_a_reference(
    client, org, idp, owner_membership, connection
):
    _publish(org, connection)
    connection.signing_keys.all().delete()
    request = start_login(client, "acme")
    back = idp.login(idp.http_session(), request["_url"], "ada@acme.test")

    response = client.get(back)

    assert_refused(client, response, "token_auth")
    assert idp.token_requests() == []
