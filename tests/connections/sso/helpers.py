"""Shared steps of the SSO tests: connections, domains, and walking a sign-in."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.test import Client
from django.utils import timezone

from connections.models import Connection, ConnectionConfig, SignInEvent
from domains.models import Domain
from organizations.crypto import encrypt_secret
from organizations.models import Organization
from rolemapping.models import GroupRoleMapping, Role

from .fakeidp import CLIENT_ID, CLIENT_SECRET

# A sentinel: send the issuer the connection expects as the RFC 9207 'iss'.
EXPECTED_ISS = object()


def make_connection(
    org: Organization,
    *,
    issuer: str,
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    live: bool = True,
    provider: str = Connection.Provider.OIDC,
    **fields: Any,
) -> Connection:
    """A connection whose draft (and, with ``live``, live) configuration is set."""
    connection = Connection.objects.create(
        organization=org, name="Company IdP", provider=provider
    )
    config = ConnectionConfig.objects.create(
        connection=connection,
        issuer_url=issuer,
        client_id=client_id,
        client_secret_encrypted=encrypt_secret(client_secret),
        **({"provider": provider} | fields),
    )
    connection.draft = config
    if live:
        connection.live = config
        connection.published_at = timezone.now()
    connection.save()
    return connection


def new_draft(connection: Connection, **fields: Any) -> ConnectionConfig:
    """Point the connection's draft at a new configuration (live stays)."""
    live = connection.live or connection.draft
    assert live is not None, "the connection has no configuration to copy"
    values = {
        "issuer_url": live.issuer_url,
        "client_id": live.client_id,
        "client_secret_encrypted": live.client_secret_encrypted,
        "scopes": live.scopes,
        "idp_logout": live.idp_logout,
        **fields,
    }
    config = ConnectionConfig.objects.create(connection=connection, **values)
    connection.draft = config
    connection.save(update_fields=["draft"])
    return config


def verify_domain(org: Organization, name: str) -> Domain:
    return Domain.objects.create(
        organization=org,
        name=name,
        token=f"token-{name}",
        status=Domain.Status.VERIFIED,
        verified_at=timezone.now(),
    )


def set_default_role(org: Organization, slug: str = "member") -> None:
    org.default_role = slug
    org.save(update_fields=["default_role"])


def map_group(org: Organization, group: str, slug: str) -> None:
    GroupRoleMapping.objects.create(
        organization=org,
        idp_group=group,
        role=Role.objects.get(organization=org, slug=slug),
    )


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def start_login(client: Client, login_path: str = "acme", **query: str) -> dict:
    """GET the organization's login URL; return the authorization request."""
    response = client.get(f"/sso/login/{login_path}/", query)
    assert response.status_code == 302, response.content.decode()[:2000]
    params = query_of(response["Location"])
    params["_url"] = response["Location"]
    return params


def callback(client: Client, issuer: str, state: str, **params: Any):
    """GET /sso/callback/ as the IdP's redirect would, with code and iss."""
    query: dict[str, Any] = {"code": "auth-code-1", "state": state, "iss": issuer}
    query.update(params)
    return client.get(
        "/sso/callback/", {k: v for k, v in query.items() if v is not None}
    )


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def assert_refused(client: Client, response, step: str) -> SignInEvent:
    """A refused attempt: 4xx (or 503 for an IdP that is not answering), nobody
    signed in, an event with the reference shown."""
    assert 400 <= response.status_code < 500 or response.status_code == 503, (
        response.status_code,
        response.content.decode()[:2000],
    )
    assert signed_in_user_id(client) is None
    event = SignInEvent.objects.order_by("-created_at", "-id").first()
    assert event is not None, "no sign-in event was written"
    assert event.outcome == SignInEvent.Outcome.FAILURE
    assert event.step == step, (event.step, event.detail)
    assert event.reference in response.content.decode()
    return event
