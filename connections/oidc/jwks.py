"""The provider's signing keys (JWKS): fetching, caching and choosing one.

Keys are cached per ``jwks_uri`` in the injected (shared) cache. A token
naming an unknown ``kid`` causes one reload, so key rotation works without a
restart: one reload per ``kid`` per ``refetch_interval`` seconds, claimed
atomically in the shared cache so whichever worker answers, the outcome is the
same; and at most ``MAX_REFETCHES`` reloads per ``jwks_uri`` in that interval,
so tokens with made-up ``kid`` values cannot make us hammer the provider. The
first load of a key set does not count: a key rotated in right after it is
still found.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from django.utils.translation import gettext as _
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from connections.oidc.discovery import (
    CacheLike,
    Fetch,
    HeaderRecorder,
    cache_key,
    cache_ttl,
    fetch_json,
)
from connections.oidc.errors import OIDCError

# Only public-key signatures: with a symmetric algorithm anybody holding the
# verification key (for HS*, the client secret) can mint tokens.
ASYMMETRIC_ALGS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
MIN_RSA_KEY_BITS = 2048
# Reloads for unknown key ids per jwks_uri per refetch interval.
MAX_REFETCHES = 3

_EC_CURVES: dict[str, tuple[str, type[ec.EllipticCurve]]] = {
    "ES256": ("P-256", ec.SECP256R1),
    "ES384": ("P-384", ec.SECP384R1),
    "ES512": ("P-521", ec.SECP521R1),
}
_OKP_CURVES = ("Ed25519", "Ed448")

VerificationKey: TypeAlias = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
)
# (kid from the token header or None, alg from the header) -> key.
KeyResolver: TypeAlias = Callable[[str | None, str], "PyJWK | VerificationKey"]


def _kty_for(alg: str) -> str:
    if alg.startswith(("RS", "PS")):
        return "RSA"
    if alg.startswith("ES"):
        return "EC"
    return "OKP"


def key_problem(key: object, alg: str) -> str | None:
    """Why ``key`` cannot verify ``alg`` signatures, or None if it can.

    The header's ``alg`` is chosen by whoever made the token, so the key's
    type, curve and size are checked against it rather than trusted.
    """
    names = {"alg": alg}
    if alg not in ASYMMETRIC_ALGS:
        return _("%(alg)s is not an accepted public-key signature algorithm") % names
    if alg.startswith(("RS", "PS")):
        if not isinstance(key, rsa.RSAPublicKey):
            return _("%(alg)s signatures need an RSA public key") % names
        if key.key_size < MIN_RSA_KEY_BITS:
            return _("the RSA key is shorter than %(bits)d bits") % {
                "bits": MIN_RSA_KEY_BITS
            }
        return None
    if alg in _EC_CURVES:
        curve_name, curve_type = _EC_CURVES[alg]
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return _("%(alg)s signatures need an elliptic-curve public key") % names
        if not isinstance(key.curve, curve_type):
            return _("%(alg)s signatures need a key on curve %(curve)s") % {
                **names,
                "curve": curve_name,
            }
        return None
    if not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return _("EdDSA signatures need an Ed25519 or Ed448 public key")
    return None


def _declared_for(jwk: Mapping[str, Any], alg: str) -> bool:
    """Whether a JWK's own metadata allows verifying ``alg`` signatures."""
    use = jwk.get("use")
    if use is not None and use != "sig":
        return False  # "enc" keys are for encryption only (RFC 7517 4.2)
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (
        not isinstance(key_ops, list) or "verify" not in key_ops
    ):
        return False
    if jwk.get("alg") not in (None, alg):
        return False
    if jwk.get("kty") != _kty_for(alg):
        return False  # also excludes "oct": never a symmetric key from a JWKS
    if alg in _EC_CURVES:
        return jwk.get("crv") == _EC_CURVES[alg][0]
    if alg == "EdDSA":
        return jwk.get("crv") in _OKP_CURVES
    return True


def _usable_key(jwk: Mapping[str, Any], alg: str) -> PyJWK | None:
    """The parsed key if ``jwk`` can verify ``alg`` signatures, else None."""
    if not _declared_for(jwk, alg):
        return None
    try:
        parsed = PyJWK(dict(jwk), algorithm=alg)
    except (PyJWTError, ValueError, TypeError, AttributeError, KeyError):
        # A key we cannot parse is one we cannot use; others may still work.
        return None
    # A JWK carrying private parameters parses as a private key: refuse it.
    if key_problem(parsed.key, alg) is not None:
        return None
    return parsed


def _validate_document(doc: Any, jwks_uri: str) -> list[dict[str, Any]]:
    """The ``keys`` of a JWKS document, or OIDCError(step="jwks")."""
    fix = _("Check the provider's 'jwks_uri'; it should serve a JSON Web Key Set.")
    names = {"url": jwks_uri}
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise OIDCError(
            "jwks",
            _("The key set at %(url)s is not a JSON object with a 'keys' list.")
            % names,
            fix,
        )
    keys: list[Any] = doc["keys"]
    if not keys:
        raise OIDCError(
            "jwks",
            _("The key set at %(url)s contains no keys.") % names,
            _("Check that the provider has an active signing key."),
        )
    for position, jwk in enumerate(keys, start=1):
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kty"), str):
            raise OIDCError(
                "jwks",
                _(
                    "Entry %(position)d of the key set at %(url)s is not a JSON Web "
                    "Key (it needs a 'kty')."
                )
                % {**names, "position": position},
                fix,
            )
        for member in ("kid", "use", "alg", "crv"):
            if member in jwk and not isinstance(jwk[member], str):
                raise OIDCError(
                    "jwks",
                    _(
                        "Entry %(position)d of the key set at %(url)s has a "
                        "'%(member)s' that is not a string."
                    )
                    % {**names, "position": position, "member": member},
                    fix,
                )
    return keys


class JWKSCache:
    """Signing keys per ``jwks_uri``, kept in a shared cache with a TTL."""

    def __init__(
        self,
        cache: CacheLike,
        *,
        ttl: int = 3600,
        refetch_interval: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.ttl = ttl
        self.refetch_interval = refetch_interval
        self.clock = clock

    def get_signing_key(
        self, fetch: Fetch, jwks_uri: str, kid: str | None, alg: str
    ) -> PyJWK:
        """The key that verifies a token with header ``kid`` and ``alg``.

        With a ``kid``, exactly one usable key must carry it. Without one,
        the provider must publish exactly one key usable for ``alg``. Keys
        for encryption, for other algorithms, symmetric keys and private keys
        are never used. Raises OIDCError (step "jwks", "kid" or "alg").
        """
        if alg not in ASYMMETRIC_ALGS:
            raise OIDCError(
                "alg",
                _("Tokens must be signed with a public-key algorithm."),
                _("Configure the provider to sign ID tokens with RS256."),
            )
        keys = self._cached_keys(jwks_uri)
        reload = _("even after reloading it just now")
        fetched_here = keys is None
        if keys is None:
            keys = self._fetch(fetch, jwks_uri)
        found = self._select(keys, kid, alg)
        if found is None and not fetched_here:
            # The provider may have rotated its keys: reload once for this kid.
            skipped = self._refetch_refusal(jwks_uri, kid)
            if skipped is None:
                keys = self._fetch(fetch, jwks_uri)
            else:
                # Reloaded moments ago (perhaps by another worker): use the
                # keys that reload stored.
                keys = self._cached_keys(jwks_uri) or keys
                reload = skipped
            found = self._select(keys, kid, alg)
        if found is None:
            raise self._not_found(keys, kid, alg, reload=reload)
        return found

    def resolver(self, fetch: Fetch, jwks_uri: str) -> KeyResolver:
        """A ``key_resolver`` for ``validate_id_token`` bound to one key set."""

        def resolve(kid: str | None, alg: str) -> PyJWK:
            return self.get_signing_key(fetch, jwks_uri, kid, alg)

        return resolve

    def _cached_keys(self, jwks_uri: str) -> list[dict[str, Any]] | None:
        cached = self.cache.get(cache_key("jwks", jwks_uri))
        if not isinstance(cached, dict) or not isinstance(cached.get("keys"), list):
            return None
        keys = cached["keys"]
        return keys if all(isinstance(jwk, dict) for jwk in keys) else None

    def _refetch_refusal(self, jwks_uri: str, kid: str | None) -> str | None:
        """None when this request is the one to reload the keys for ``kid``,
        else how the key set was reloaded moments ago (for the message).

        ``add`` is atomic in the shared cache: of the workers that see the same
        unknown kid within the interval, exactly one reloads. Claimed before
        fetching, so a failed reload counts too and an unreachable provider is
        not asked again on every token.
        """
        per_kid = cache_key("jwks-refetch", f"{jwks_uri}#{kid or ''}")
        if not self.cache.add(per_kid, self.clock(), self.refetch_interval):
            return _(
                "which was reloaded for this key id less than %(seconds)d seconds ago"
            ) % {"seconds": self.refetch_interval}
        for slot in range(MAX_REFETCHES):
            slot_key = cache_key("jwks-refetch-slot", f"{jwks_uri}#{slot}")
            if self.cache.add(slot_key, self.clock(), self.refetch_interval):
                return None
        return _(
            "which was reloaded %(times)d times in the last %(seconds)d seconds for "
            "other unknown key ids"
        ) % {"times": MAX_REFETCHES, "seconds": self.refetch_interval}

    def _fetch(self, fetch: Fetch, jwks_uri: str) -> list[dict[str, Any]]:
        recorder = HeaderRecorder(fetch)
        doc = fetch_json(recorder, jwks_uri, step="jwks", what=_("key set"))
        keys = _validate_document(doc, jwks_uri)
        ttl = cache_ttl(recorder.headers.get("Cache-Control"), self.ttl)
        self.cache.set(cache_key("jwks", jwks_uri), {"keys": keys}, ttl)
        return keys

    @staticmethod
    def _select(keys: list[dict[str, Any]], kid: str | None, alg: str) -> PyJWK | None:
        candidates = keys if kid is None else [k for k in keys if k.get("kid") == kid]
        parsed = (_usable_key(jwk, alg) for jwk in candidates)
        usable = [key for key in parsed if key is not None]
        if len(usable) > 1:
            raise OIDCError(
                "kid",
                _(
                    "The ID token does not say which key signed it, and the "
                    "provider publishes several %(alg)s signing keys."
                )
                % {"alg": alg}
                if kid is None
                else _(
                    "The provider publishes several %(alg)s signing keys with the "
                    "key id the ID token names."
                )
                % {"alg": alg},
                _(
                    "Configure the provider to include a key id ('kid') in tokens "
                    "and unique key ids in its key set."
                ),
            )
        return usable[0] if usable else None

    @staticmethod
    def _not_found(
        keys: list[dict[str, Any]], kid: str | None, alg: str, *, reload: str
    ) -> OIDCError:
        names = {"alg": alg}
        if kid is None:
            return OIDCError(
                "kid",
                _(
                    "The ID token does not say which key signed it, and the "
                    "provider publishes no key usable for %(alg)s signatures."
                )
                % names,
                _("Check the provider's signing algorithm and keys."),
            )
        if any(k.get("kid") == kid for k in keys):
            return OIDCError(
                "kid",
                _(
                    "The provider's key that the ID token names cannot verify "
                    "%(alg)s signatures (it is for another algorithm or for "
                    "encryption, or is malformed)."
                )
                % names,
                _("Check the provider's ID token signing algorithm and keys."),
            )
        return OIDCError(
            "kid",
            # Translators: %(reload)s says how recently the key set was reloaded.
            _(
                "The ID token is signed with a key that is not in the provider's "
                "key set, %(reload)s."
            )
            % {"reload": reload},
            _(
                "If the provider has just rotated its keys, try again in a minute. "
                "Otherwise the token comes from a different issuer: check the "
                "issuer URL (for Okta, the org authorization server and "
                "'/oauth2/default' have different keys)."
            ),
        )
