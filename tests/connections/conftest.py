"""Fixtures for the connection tests: an IdP client, connections, checks."""

from __future__ import annotations

import json
import socket

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from connections.models import Connection, ConnectionCheck
from connections.services.checks import connection_check_start
from connections.services.connections import connection_create
from connections.services.signing_keys import assertion_key_for
from domains.models import Domain
from rolemapping.models import Membership

CLIENT_ID = "console-app"
# Distinctive, so a test can scan every response body and log line for it.
SECRET = "Zq9-vX7w-s3cr3t-VALUE-never-shown-41c7"
REDIRECT_URI = "http://testserver/sso/callback/"


@pytest.fixture
def idp(clean_oidc_idp):
    """The real test IdP with the console's app registered (secret: SECRET)."""
    clean_oidc_idp.add_client(
        CLIENT_ID,
        SECRET,
        [REDIRECT_URI],
        post_logout_redirect_uris=["http://testserver/sso/logged-out/"],
    )
    return clean_oidc_idp


@pytest.fixture
def owner_membership(org) -> Membership:
    return Membership.objects.select_related("organization", "role", "user").get(
        organization=org, user=org.owner
    )


def make_connection(
    membership: Membership,
    issuer: str,
    *,
    client_id: str = CLIENT_ID,
    secret: str = SECRET,
    **fields,
) -> Connection:
    return connection_create(
        actor_membership=membership,
        name=fields.pop("name", "Okta"),
        provider=fields.pop("provider", "okta"),
        issuer_url=issuer,
        client_id=client_id,
        client_secret=secret,
        **fields,
    )


@pytest.fixture
def run_check(django_capture_on_commit_callbacks):
    """Start a check the way the view does and run it (Celery eager)."""

    def run(membership: Membership, connection: Connection) -> ConnectionCheck:
        with django_capture_on_commit_callbacks(execute=True):
            check = connection_check_start(
                actor_membership=membership, connection=connection
            )
        check.refresh_from_db()
        return check

    return run


def steps_by_key(check: ConnectionCheck) -> dict[str, dict]:
    return {step["key"]: step for step in check.steps}


def passed_check(connection: Connection, **fields) -> ConnectionCheck:
    """A finished, passing connection check of the current draft."""
    connection.refresh_from_db()
    draft = connection.draft
    assert draft is not None, "the connection has no draft"
    return ConnectionCheck.objects.create(
        connection=connection,
        config=draft,
        fingerprint=draft.fingerprint,
        kind=fields.pop("kind", ConnectionCheck.Kind.CHECK),
        status=fields.pop("status", ConnectionCheck.Status.PASSED),
        **fields,
    )


def make_ready(org, connection: Connection, actor) -> None:
    """Everything the first publish needs besides the check and confirmation."""
    Domain.objects.create(
        organization=org, name="acme.test", token="t", status=Domain.Status.VERIFIED
    )
    org.default_role = "member"
    org.save(update_fields=["default_role"])
    passed_check(connection, kind=ConnectionCheck.Kind.TEST_SIGNIN, created_by=actor)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_key_values(connection: Connection) -> list[str]:
    """The active RSA key's private members (d, p, q, dp, dq, qi) and a line of
    its PEM: what must never appear in a page, a JSON view or a log."""
    signer = assertion_key_for(connection.pk)
    assert signer is not None
    loaded = serialization.load_pem_private_key(
        signer.private_pem.encode(), password=None
    )
    assert isinstance(loaded, rsa.RSAPrivateKey)
    full = json.loads(RSAAlgorithm.to_jwk(loaded))
    return [signer.private_pem.splitlines()[1]] + [
        full[name] for name in ("d", "p", "q", "dp", "dq", "qi")
    ]
