"""How this console authenticates to an IdP's token endpoint.

RFC 6749 2.3.1 (a client secret, in HTTP Basic or in the body) and RFC 7523 /
OpenID Connect Core 9 (``private_key_jwt``: a short-lived assertion signed with
a key only this console holds). One code path for the connection check and the
real sign-in, so credentials that pass one cannot fail the other.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import jwt

# In order of preference when the IdP advertises several and the
# configuration leaves the choice to discovery.
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
PRIVATE_KEY_JWT = "private_key_jwt"
METHODS = (*SECRET_METHODS, PRIVATE_KEY_JWT)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# An assertion is good for this long: one token request, with clock leeway.
ASSERTION_LIFETIME_SECONDS = 60
ASSERTION_ALGS = ("RS256", "ES256")


@dataclass(frozen=True)
class AssertionKey:
    """The private key a client assertion is signed with. ``repr`` hides it."""

    kid: str
    alg: str
    private_pem: str = field(repr=False)


@dataclass(frozen=True)
class ClientAuth:
    """What a token request carries to authenticate the client."""

    method: str
    # Form fields to add to the request body.
    data: dict[str, str] = field(default_factory=dict, repr=False)
    # (user, password) for HTTP Basic authentication, already form-encoded.
    basic: tuple[str, str] | None = field(default=None, repr=False)


def token_auth_method(
    advertised: Sequence[str], configured: str = "", *, has_secret: bool = True
) -> str | None:
    """The method to use, or None when the IdP advertises none this console can.

    A configured method is used when the IdP advertises it. Left to discovery
    (``configured`` empty), the first of ours the IdP supports, among the
    secret methods when there is a secret. (Discovery already reads an omitted
    list as ``client_secret_basic``.)
    """
    if configured:
        return configured if configured in advertised else None
    ours = SECRET_METHODS if has_secret else (PRIVATE_KEY_JWT,)
    return next((method for method in ours if method in advertised), None)


def client_assertion(
    *,
    client_id: str,
    audience: str,
    key: AssertionKey,
    now: float | None = None,
    lifetime: int = ASSERTION_LIFETIME_SECONDS,
) -> str:
    """A fresh client assertion (RFC 7523 3, OpenID Connect Core 9).

    ``iss`` and ``sub`` are the client ID, ``aud`` the token endpoint, ``exp``
    ``lifetime`` seconds away, and a random ``jti`` the IdP remembers, so an
    assertion cannot be replayed. The header names the key (``kid``).
    """
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(24),
    }
    return jwt.encode(
        claims,
        key.private_pem,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": "JWT"},
    )


def client_auth(
    method: str,
    client_id: str,
    client_secret: str = "",
    *,
    token_endpoint: str = "",
    key: AssertionKey | None = None,
) -> ClientAuth:
    """The client authentication for ``method``.

    ``client_secret_basic`` form-encodes the ID and the secret before they go
    into the Basic credentials (RFC 6749 2.3.1): a secret holding ``+ % & = /``
    means the same thing to the IdP either way. ``private_key_jwt`` signs a new
    assertion for ``token_endpoint`` with ``key`` on every call.
    """
    if method == "client_secret_basic":
        return ClientAuth(
            method=method,
            basic=(quote(client_id, safe=""), quote(client_secret, safe="")),
        )
    if method == "client_secret_post":
        return ClientAuth(
            method=method,
            data={"client_id": client_id, "client_secret": client_secret},
        )
    if method == PRIVATE_KEY_JWT:
        if key is None or not token_endpoint:
            raise ValueError("private_key_jwt needs a signing key and the endpoint")
        assertion = client_assertion(
            client_id=client_id, audience=token_endpoint, key=key
        )
        return ClientAuth(
            method=method,
            data={
                "client_id": client_id,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
    raise ValueError(f"Unsupported client authentication method: {method}")
