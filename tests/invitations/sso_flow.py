"""Helpers for tests that sign in through the real test IdP (not a test module)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.utils import timezone

from connections.models import Connection, ConnectionConfig
from domains.models import Domain
from organizations.crypto import encrypt_secret
from organizations.models import Organization

CLIENT_ID = "acme-console"
CLIENT_SECRET = "acme-client-secret-0123456789"
REDIRECT_URI = "http://testserver/sso/callback/"


def make_sso_live(org: Organization, idp, domain: str = "acme.test") -> Connection:
    """Register a client at the IdP, verify ``domain`` and publish a connection."""
    idp.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    Domain.objects.create(organization=org, name=domain, token="t", status="verified")
    connection = Connection.objects.create(organization=org, name="Test IdP")
    config = ConnectionConfig.objects.create(
        connection=connection,
        issuer_url=idp.issuer,
        client_id=CLIENT_ID,
        client_secret_encrypted=encrypt_secret(CLIENT_SECRET),
    )
    Connection.objects.filter(pk=connection.pk).update(
        draft=config, live=config, published_at=timezone.now()
    )
    return connection


def sign_in_through_idp(client, idp, start_url: str, email: str):
    """Follow the console's redirects to the IdP, sign in there as ``email``, and
    hand the IdP's answer to the callback; returns the callback's response."""
    response = client.get(start_url)
    while response.status_code == 302 and response["Location"].startswith("/"):
        response = client.get(response["Location"])
    assert response.status_code == 302, response.content[:500]
    callback = idp.login(idp.http_session(), response["Location"], email)
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}")
