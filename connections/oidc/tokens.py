"""ID token validation (OpenID Connect Core 1.0, section 3.1.3.7) and the
checks on what comes back with it: the UserInfo ``sub`` and the RFC 9207
``iss`` authorization response parameter.

The token is parsed here rather than by ``jwt.decode`` so every rule is
explicit and every failure, including a malformed token, is an OIDCError with
a step name. PyJWT is used only for the signature arithmetic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jwt import PyJWK
from jwt.algorithms import get_default_algorithms

from connections.oidc.errors import OIDCError, issuer_mismatch_fix, quoted
from connections.oidc.jwks import ASYMMETRIC_ALGS, KeyResolver, key_problem

# Large enough for an ID token with a long groups claim; the outbound client
# caps response sizes too, this just bounds the work done on garbage.
MAX_TOKEN_CHARS = 100_000
MAX_SUB_CHARS = 255  # OIDC Core 2: "MUST NOT exceed 255 ASCII characters"
HMAC_ALG = "HS256"
_HMAC_ALGS = frozenset({"HS256", "HS384", "HS512"})
_ALGORITHMS = get_default_algorithms()
# ID tokens are plain JWTs; other types (at+jwt, logout+jwt) are other kinds
# of token that must never be accepted as an ID token.
_ACCEPTED_TYPES = frozenset({"jwt", "application/jwt"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_CLOCK_FIX = "Check that this server's clock is correct (NTP); if it is, sign in again."
_RETRY_FIX = "Start the sign-in again from this site."


@dataclass(frozen=True)
class _CompactJWS:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def accepted_algs(supported: Iterable[str]) -> tuple[str, ...]:
    """The public-key algorithms among a provider's advertised ones.

    Pass the result as ``allowed_algs``; HS256 is added only deliberately.
    """
    return tuple(alg for alg in supported if alg in ASYMMETRIC_ALGS)


def _malformed(what: str) -> OIDCError:
    return OIDCError(
        "malformed",
        f"The ID token is malformed: {what}.",
        "The provider returned something that is not a signed JWT; check "
        "that the issuer URL points at an OpenID Connect provider.",
    )


def _decode_segment(segment: str, name: str) -> bytes:
    if not _BASE64URL.fullmatch(segment):
        raise _malformed(f"its {name} is not base64url")
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _malformed(f"its {name} is not base64url") from None
    # Only the canonical encoding: otherwise one token has several spellings
    # (unused trailing bits), which would defeat anything keyed on the string.
    if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode("ascii") != segment:
        raise _malformed(f"its {name} is not canonical base64url")
    return decoded


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate names are read differently by different parsers (RFC 7515
    # 5.2 lets us reject them), so one could hide a claim from a check.
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError("duplicate member name")
        result[name] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_unique_members,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed(f"its {name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise _malformed(f"its {name} is not a JSON object")
    if not _text_is_storable(value):
        # JSON escapes can smuggle in lone surrogates (not encodable as UTF-8)
        # and NUL (refused by PostgreSQL): refuse them here, once, so no claim
        # check or database write downstream ever meets one.
        raise _malformed(f"its {name} holds text that is not valid Unicode")
    return value


def _text_is_storable(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value and not any(
            "\ud800" <= char <= "\udfff" for char in value
        )
    if isinstance(value, dict):
        return all(
            _text_is_storable(key) and _text_is_storable(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return all(_text_is_storable(item) for item in value)
    return True


def _split(raw: object) -> _CompactJWS:
    if not isinstance(raw, str) or not raw:
        raise _malformed("it is empty or not text")
    if len(raw) > MAX_TOKEN_CHARS:
        raise _malformed("it is too long")
    parts = raw.split(".")
    if len(parts) != 3:
        # Five parts would be an encrypted token (JWE), which is not supported.
        raise _malformed("it does not have three dot-separated parts")
    header_segment, payload_segment, signature_segment = parts
    header_bytes = _decode_segment(header_segment, "header")
    payload = _decode_segment(payload_segment, "payload")
    signature = _decode_segment(signature_segment, "signature")
    # Both segments are base64url by now, so this is plain ASCII.
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    return _CompactJWS(
        header=_json_object(header_bytes, "header"),
        payload=payload,
        signing_input=signing_input,
        signature=signature,
    )


def _check_header(header: Mapping[str, Any]) -> tuple[str, str | None]:
    """The header's ``alg`` and ``kid`` after structural checks."""
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise _malformed("its header has no algorithm ('alg')")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _malformed("its key id ('kid') is not a string")
    if "crit" in header:
        # RFC 7515 4.1.11: extensions we do not understand must be rejected.
        raise OIDCError(
            "crit",
            "The ID token requires header extensions ('crit') this site does "
            "not support.",
            "Configure the provider to issue standard signed ID tokens.",
        )
    typ = header.get("typ")
    if typ is not None and (
        not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES
    ):
        raise OIDCError(
            "typ",
            "The token is not an ID token (its header 'typ' names another kind "
            "of token).",
            "Check that the provider returns an ID token from the token endpoint.",
        )
    return alg, kid


def _check_alg(alg: str, allowed: Collection[str], hmac_secret: str | None) -> None:
    accepted = {a for a in allowed if a in ASYMMETRIC_ALGS}
    if hmac_secret and HMAC_ALG in allowed:
        accepted.add(HMAC_ALG)
    if alg in accepted:
        return
    if alg == "none":
        detail = "The ID token is not signed (algorithm 'none')."
    elif alg in _HMAC_ALGS:
        detail = (
            f"The ID token is signed with {alg}, a shared-secret algorithm "
            "this connection does not accept."
        )
    else:
        # Only names we know are echoed; the header is not trusted yet.
        named = alg if alg in ASYMMETRIC_ALGS else "an unsupported algorithm"
        detail = (
            f"The ID token is signed with {named}, which this connection does "
            "not accept."
        )
    raise OIDCError(
        "alg",
        detail,
        "Configure the provider to sign ID tokens with "
        f"{' or '.join(sorted(accepted)) or 'RS256'} (RS256 is Okta's default).",
    )


def _verify_signature(
    jws: _CompactJWS,
    alg: str,
    kid: str | None,
    key_resolver: KeyResolver,
    hmac_secret: str | None,
) -> None:
    if alg == HMAC_ALG:
        # The key is the client secret the caller passed on purpose, never
        # anything the resolver returns, so an RSA public key can never be
        # used as an HMAC key. _check_alg admits HS256 only with a secret;
        # this repeats it so an empty key can never be used.
        if not hmac_secret:
            raise OIDCError("alg", "Shared-secret ID tokens are not accepted.")
        expected = hmac.new(
            hmac_secret.encode("utf-8"), jws.signing_input, hashlib.sha256
        ).digest()
        valid = hmac.compare_digest(expected, jws.signature)
    else:
        key = key_resolver(kid, alg)
        key_object = key.key if isinstance(key, PyJWK) else key
        problem = key_problem(key_object, alg)
        if problem is not None:
            raise OIDCError(
                "key",
                f"The provider's key cannot verify this ID token: {problem}.",
                "Check the provider's ID token signing algorithm and keys.",
            )
        valid = _ALGORITHMS[alg].verify(jws.signing_input, key_object, jws.signature)
    if not valid:
        raise OIDCError(
            "signature",
            "The ID token's signature is not valid.",
            "If this keeps happening, the token did not come from the "
            "configured provider or was altered; check the issuer URL.",
        )


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int subclass in Python; 1e400 parses to inf, and 10**400
    # (an int) overflows as soon as it meets the float clock.
    try:
        usable = (
            not isinstance(value, bool)
            and isinstance(value, int | float)
            and math.isfinite(value)
        )
    except OverflowError:
        usable = False
    if not usable:
        raise OIDCError(
            name,
            f"The ID token's '{name}' claim is not a number of seconds.",
            "The provider is not OpenID Connect compliant; check the issuer URL.",
        )
    seconds: float = value  # an int or a finite float, checked just above
    return seconds


def _required_number(claims: Mapping[str, Any], name: str) -> float:
    value = _number(claims, name)
    if value is None:
        raise OIDCError(
            name,
            f"The ID token has no '{name}' claim, which is required.",
            "The provider is not OpenID Connect compliant; check the issuer URL.",
        )
    return value


def _check_issuer(claims: Mapping[str, Any], issuer: str) -> None:
    iss = claims.get("iss")
    if not isinstance(iss, str):
        raise OIDCError(
            "iss",
            "The ID token has no issuer ('iss').",
            "The provider is not OpenID Connect compliant; check the issuer URL.",
        )
    if iss != issuer:
        # The signature has been verified, so this is the provider's own
        # statement of its issuer, not attacker-chosen text.
        raise OIDCError(
            "iss",
            f"The ID token was issued by {quoted(iss)}, but this connection's "
            f"issuer is {quoted(issuer)}; they must match exactly.",
            issuer_mismatch_fix(issuer, iss),
        )


def _check_audience(
    claims: Mapping[str, Any], client_id: str, trusted: Collection[str]
) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if (
        not isinstance(audiences, list)
        or not audiences
        or not all(isinstance(a, str) for a in audiences)
    ):
        raise OIDCError(
            "aud",
            "The ID token has no valid audience ('aud').",
            "The provider is not OpenID Connect compliant; check the issuer URL.",
        )
    if client_id not in audiences:
        raise OIDCError(
            "aud",
            "The ID token was issued to another application: its audience does "
            "not include this connection's client ID.",
            "Copy the client ID of the application you created at the provider "
            "into this connection.",
        )
    # OIDC Core 3.1.3.7 (3): reject additional audiences not trusted.
    if any(a != client_id and a not in trusted for a in audiences):
        raise OIDCError(
            "aud",
            "The ID token is also addressed to other audiences this connection "
            "does not trust.",
            "Configure the provider to issue ID tokens for this application only.",
        )
    azp = claims.get("azp")
    if azp is None and len(audiences) > 1:
        raise OIDCError(
            "azp",
            "The ID token has several audiences but no authorized party ('azp').",
            "Configure the provider to issue ID tokens for this application only.",
        )
    if azp is not None and azp != client_id:
        raise OIDCError(
            "azp",
            "The ID token was issued to another application: its authorized "
            "party ('azp') is not this connection's client ID.",
            "Copy the client ID of the application you created at the provider "
            "into this connection.",
        )


def _check_times(
    claims: Mapping[str, Any],
    *,
    now: float,
    leeway: int,
    max_age_seconds: int | None,
) -> None:
    exp = _required_number(claims, "exp")
    iat = _required_number(claims, "iat")
    nbf = _number(claims, "nbf")
    if now - leeway >= exp:
        raise OIDCError(
            "exp",
            f"The ID token expired {int(now - exp)} seconds ago.",
            _CLOCK_FIX,
        )
    if iat > now + leeway:
        raise OIDCError(
            "iat",
            f"The ID token says it was issued {int(iat - now)} seconds in the future.",
            _CLOCK_FIX,
        )
    if nbf is not None and nbf > now + leeway:
        raise OIDCError(
            "nbf",
            f"The ID token is not valid for another {int(nbf - now)} seconds.",
            _CLOCK_FIX,
        )
    if max_age_seconds is not None:
        # OIDC Core 3.1.2.1: with max_age, auth_time is required and the
        # person must have authenticated within max_age.
        auth_time = _required_number(claims, "auth_time")
        if now - leeway > auth_time + max_age_seconds:
            raise OIDCError(
                "auth_time",
                "The person last authenticated at the provider longer ago than "
                "this sign-in allows.",
                "Sign in again; the provider should ask for your credentials.",
            )


def _check_subject(claims: Mapping[str, Any]) -> None:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_CHARS:
        raise OIDCError(
            "sub",
            "The ID token has no valid subject ('sub'): it must be a non-empty "
            f"string of at most {MAX_SUB_CHARS} characters.",
            "The provider is not OpenID Connect compliant; check the issuer URL.",
        )


def _check_nonce(claims: Mapping[str, Any], nonce: str) -> None:
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str):
        raise OIDCError(
            "nonce",
            "The ID token carries no nonce, so it cannot be tied to this sign-in.",
            "Check that the provider returns the nonce it was sent; " + _RETRY_FIX,
        )
    if not hmac.compare_digest(token_nonce.encode("utf-8"), nonce.encode("utf-8")):
        raise OIDCError(
            "nonce",
            "The ID token belongs to a different sign-in attempt (nonce mismatch).",
            _RETRY_FIX + " If it keeps happening, the response may be replayed.",
        )


def validate_id_token(
    raw: str,
    *,
    issuer: str,
    client_id: str,
    key_resolver: KeyResolver,
    allowed_algs: Sequence[str],
    nonce: str,
    leeway: int = 60,
    now: float | None = None,
    max_age_seconds: int | None = None,
    trusted_audiences: Collection[str] = (),
    allow_hmac_secret: str | None = None,
) -> dict[str, Any]:
    """Validate an ID token and return its claims, or raise OIDCError.

    ``allowed_algs`` is filtered to public-key algorithms; HS256 is accepted
    only if it is listed *and* ``allow_hmac_secret`` (the client secret) is
    given, in which case it is verified with that secret. ``key_resolver``
    maps (kid, alg) to a key, e.g. ``JWKSCache.resolver(fetch, jwks_uri)``.
    ``max_age_seconds`` is the ``max_age`` sent in the authorization request,
    if any. Audiences other than ``client_id`` must be in
    ``trusted_audiences``. ``now`` is for tests.
    """
    if not issuer or not client_id or not nonce:
        raise ValueError("issuer, client_id and nonce must be non-empty")
    if isinstance(allowed_algs, str) or isinstance(trusted_audiences, str):
        raise ValueError("allowed_algs and trusted_audiences take lists, not a str")
    if leeway < 0:
        raise ValueError("leeway must not be negative")
    jws = _split(raw)
    alg, kid = _check_header(jws.header)
    _check_alg(alg, allowed_algs, allow_hmac_secret)
    _verify_signature(jws, alg, kid, key_resolver, allow_hmac_secret)
    # Claims are read only after the signature is known to be good.
    claims = _json_object(jws.payload, "payload")
    _check_issuer(claims, issuer)
    _check_audience(claims, client_id, trusted_audiences)
    _check_times(
        claims,
        now=time.time() if now is None else now,
        leeway=leeway,
        max_age_seconds=max_age_seconds,
    )
    _check_subject(claims)
    _check_nonce(claims, nonce)
    return claims


def check_userinfo_sub(
    id_claims: Mapping[str, Any], userinfo: Mapping[str, Any]
) -> None:
    """Refuse UserInfo that describes someone other than the ID token's subject.

    OIDC Core 5.3.2: the ``sub`` in the UserInfo response must exactly match
    the ID token's, or the UserInfo must not be used.
    """
    if not isinstance(userinfo, Mapping) or not isinstance(userinfo.get("sub"), str):
        raise OIDCError(
            "userinfo_sub",
            "The UserInfo response has no subject ('sub').",
            "The provider is not OpenID Connect compliant; check the issuer URL.",
        )
    if userinfo["sub"] != id_claims.get("sub"):
        raise OIDCError(
            "userinfo_sub",
            "The UserInfo response describes a different user than the ID token.",
            _RETRY_FIX + " If it keeps happening, check the provider's settings.",
        )


def validate_authorization_response_iss(
    param_iss: str | None, issuer: str, required: bool
) -> None:
    """Check the RFC 9207 ``iss`` parameter of an authorization response.

    ``required`` is the provider's
    ``authorization_response_iss_parameter_supported``. When present the
    parameter must equal the issuer exactly, required or not (RFC 9207 2.4);
    this is what stops a mix-up between two providers.
    """
    if param_iss is None:
        if required:
            raise OIDCError(
                "iss_param",
                "The provider's response has no 'iss' parameter, although the "
                "provider says it always sends one.",
                _RETRY_FIX + " If it keeps happening, the response did not come "
                "from the configured provider.",
            )
        return
    if param_iss != issuer:
        raise OIDCError(
            "iss_param",
            "The sign-in response came from a different issuer than this "
            f"connection's ({quoted(issuer)}).",
            _RETRY_FIX + " If it keeps happening, check the issuer URL.",
        )
