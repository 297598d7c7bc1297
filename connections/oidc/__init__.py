"""OpenID Connect protocol code: pure, typed, no ORM and no direct HTTP.

HTTP goes through an injected ``Fetch`` (``connections.outbound``) and
caching through an injected ``CacheLike`` (Django's cache), so everything
here can be tested with fakes. Every protocol failure is an ``OIDCError``
whose ``step`` names what failed and whose message says how to fix it.
"""

from connections.oidc.discovery import (
    CacheLike,
    Fetch,
    FetchResponse,
    ProviderMetadata,
    discovery_url,
    fetch_metadata,
    issuer_from_input,
    parse_metadata,
)
from connections.oidc.errors import OIDCError
from connections.oidc.jwks import ASYMMETRIC_ALGS, JWKSCache, KeyResolver
from connections.oidc.pkce import code_challenge_s256, secrets_match
from connections.oidc.tokens import (
    accepted_algs,
    check_userinfo_sub,
    validate_authorization_response_iss,
    validate_id_token,
)

__all__ = [
    "ASYMMETRIC_ALGS",
    "CacheLike",
    "Fetch",
    "FetchResponse",
    "JWKSCache",
    "KeyResolver",
    "OIDCError",
    "ProviderMetadata",
    "accepted_algs",
    "check_userinfo_sub",
    "code_challenge_s256",
    "discovery_url",
    "fetch_metadata",
    "issuer_from_input",
    "parse_metadata",
    "secrets_match",
    "validate_authorization_response_iss",
    "validate_id_token",
]
