"""Per-sign-in secrets: ``state``, ``nonce`` and the PKCE verifier (RFC 7636)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

# 32 random bytes = 256 bits, twice the 128 the specs ask for at least.
_RANDOM_BYTES = 32
# RFC 7636 4.1: 43 to 128 characters from the unreserved set.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_VERIFIER_BYTES = 48  # encodes to 64 characters


def new_state() -> str:
    """A fresh ``state`` value (CSRF protection for the redirect)."""
    return secrets.token_urlsafe(_RANDOM_BYTES)


def new_nonce() -> str:
    """A fresh ``nonce`` value (binds the ID token to this sign-in)."""
    return secrets.token_urlsafe(_RANDOM_BYTES)


def code_verifier() -> str:
    """A fresh PKCE code verifier: 64 URL-safe characters (384 bits)."""
    return secrets.token_urlsafe(_VERIFIER_BYTES)


def code_challenge_s256(verifier: str) -> str:
    """The S256 code challenge for ``verifier``: BASE64URL(SHA-256(verifier))."""
    if not _VERIFIER.fullmatch(verifier):
        raise ValueError("a PKCE verifier is 43-128 unreserved characters")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def secrets_match(expected: str, received: str | None) -> bool:
    """Compare a stored ``state`` (or similar) with a received one in constant time."""
    if not expected or received is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))
