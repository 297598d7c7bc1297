"""The console's own signing keys for ``private_key_jwt``: made here, public part out.

A key pair is generated per connection (RS256: RSA 2048; ES256: P-256). The
private part leaves this module only as PEM, to be encrypted at rest by the
caller; the public part is a JWK holding the public members alone, listed
explicitly, so a private member (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``)
can never reach a JWKS, a page or a log through it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from connections.oidc.client_auth import ASSERTION_ALGS

RSA_KEY_BITS = 2048
# The members a public JWK may carry, per key type (RFC 7517, RFC 7518 6).
PUBLIC_MEMBERS = {
    "RSA": ("kty", "kid", "use", "alg", "n", "e"),
    "EC": ("kty", "kid", "use", "alg", "crv", "x", "y"),
}
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True)
class GeneratedKey:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_pem: str = field(repr=False)


def public_only(jwk: dict[str, Any]) -> dict[str, Any]:
    """``jwk`` with the public members of its type alone (an allow-list)."""
    allowed = PUBLIC_MEMBERS.get(str(jwk.get("kty")), ())
    return {name: jwk[name] for name in allowed if name in jwk}


def signing_key_generate(alg: str = "RS256") -> GeneratedKey:
    """A new key pair for client assertions, with a random ``kid``."""
    if alg not in ASSERTION_ALGS:
        raise ValueError(f"Unsupported client assertion algorithm: {alg}")
    kid = secrets.token_urlsafe(12)
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if alg == "RS256":
        private_key = rsa.generate_private_key(
            public_exponent=65537, key_size=RSA_KEY_BITS
        )
        public = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    else:
        private_key = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    public.update({"kid": kid, "use": "sig", "alg": alg})
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return GeneratedKey(
        kid=kid, alg=alg, public_jwk=public_only(public), private_pem=pem
    )


def jwks_document(public_jwks: list[dict[str, Any]]) -> dict[str, Any]:
    """A JWKS of the given keys, each filtered to its public members again."""
    return {"keys": [public_only(jwk) for jwk in public_jwks]}
