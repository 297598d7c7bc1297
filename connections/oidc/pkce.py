"""PKCE (RFC 7636) S256 challenges, and a constant-time comparison.

The per-sign-in secrets themselves (``state``, ``nonce`` and the code
verifier) are made and stored by mozilla-django-oidc's request view; see
``connections.oidc.flow``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# RFC 7636 4.1: 43 to 128 characters from the unreserved set.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


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
