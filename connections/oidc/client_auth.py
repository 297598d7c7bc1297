"""How this console authenticates to an IdP's token endpoint (RFC 6749 2.3.1).

One code path for the connection check and the real sign-in, so a secret that
passes one cannot fail the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

# In order of preference when the IdP advertises several.
SECRET_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class ClientAuth:
    """What a token request carries to authenticate the client."""

    method: str
    # Form fields to add to the request body.
    data: dict[str, str] = field(default_factory=dict)
    # (user, password) for HTTP Basic authentication, already form-encoded.
    basic: tuple[str, str] | None = None


def token_auth_method(advertised: Sequence[str]) -> str | None:
    """The secret-based method to use, of those the IdP advertises; None if none.

    (Discovery already reads an omitted list as ``client_secret_basic``.)
    """
    return next((method for method in SECRET_METHODS if method in advertised), None)


def client_auth(method: str, client_id: str, client_secret: str) -> ClientAuth:
    """The client authentication for ``method``.

    ``client_secret_basic`` form-encodes the ID and the secret before they go
    into the Basic credentials (RFC 6749 2.3.1): a secret holding ``+ % & = /``
    means the same thing to the IdP either way.
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
    raise ValueError(f"Unsupported client authentication method: {method}")
