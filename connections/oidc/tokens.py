"""ID token validation (OpenID Connect Core 1.0, section 3.1.3.7) and the
checks on what comes back with it: the UserInfo ``sub`` and the RFC 9207
``iss`` authorization response parameter.

``jwt.decode`` (PyJWT) verifies the signature with the key resolved for the
token's ``kid`` and checks the registered claims: ``iss``, ``aud``, ``exp``,
``iat`` and ``sub`` present, issuer and audience equal to ours, ``exp``,
``iat`` and ``nbf`` within the leeway. This module keeps what PyJWT does not:

* before decode, a strict reading of the token and the header rules (see
  ``_unverified_parts`` and ``_check_header``), and key resolution by ``kid``;
* after it, OIDC's own rules: extra audiences and ``azp``, a ``sub`` of at
  most 255 characters, time claims that are JSON numbers, ``max_age``, the
  nonce;
* every failure, PyJWT's included, as an OIDCError with a step name and a
  sentence an admin can act on.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import jwt
from django.utils.translation import gettext as _
from jwt import PyJWK
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    InvalidSubjectError,
    MissingRequiredClaimError,
    PyJWTError,
)
from jwt.types import Options

from connections.oidc.errors import OIDCError, issuer_mismatch_fix, quoted
from connections.oidc.jwks import ASYMMETRIC_ALGS, KeyResolver, key_problem

# Large enough for an ID token with a long groups claim; the outbound client
# caps response sizes too, this just bounds the work done on garbage.
MAX_TOKEN_CHARS = 100_000
MAX_SUB_CHARS = 255  # OIDC Core 2: "MUST NOT exceed 255 ASCII characters"
_DECODE_OPTIONS: Options = {
    "require": ["iss", "aud", "exp", "iat", "sub"],  # OIDC Core 2
    # PyJWT would refuse a 'jti' that is not a string. OIDC does not use it
    # and we never read it, so a provider's odd jti is not a reason to fail.
    "verify_jti": False,
}
# Named only to word the refusal: shared-secret algorithms are never accepted.
_SHARED_SECRET_ALGS = frozenset({"HS256", "HS384", "HS512"})
# ID tokens are plain JWTs; other types (at+jwt, logout+jwt) are other kinds
# of token that must never be accepted as an ID token.
_ACCEPTED_TYPES = frozenset({"jwt", "application/jwt"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _clock_fix() -> str:
    return _(
        "Check that this server's clock is correct (NTP); if it is, sign in again."
    )


def _retry_fix(then: str = "") -> str:
    """Start the sign-in again, and ``then`` (a sentence) if it keeps happening."""
    retry = _("Start the sign-in again from this site.")
    return f"{retry} {then}" if then else retry


def _not_compliant() -> str:
    return _("The provider is not OpenID Connect compliant; check the issuer URL.")


def accepted_algs(supported: Iterable[str]) -> tuple[str, ...]:
    """The public-key algorithms among a provider's advertised ones.

    Pass the result as ``allowed_algs``. Shared-secret algorithms (HS256...)
    are never accepted: anybody holding the client secret could mint tokens.
    """
    return tuple(alg for alg in supported if alg in ASYMMETRIC_ALGS)


# ------------------------------------------------------------ before decode


def _malformed(what: str) -> OIDCError:
    """``what`` is the translated reason, a phrase such as "it is too long"."""
    return OIDCError(
        "malformed",
        _("The ID token is malformed: %(what)s.") % {"what": what},
        _(
            "The provider returned something that is not a signed JWT; check that "
            "the issuer URL points at an OpenID Connect provider."
        ),
    )


def _decode_segment(segment: str, name: str) -> bytes:
    # Unpadded (RFC 7515 2): PyJWT also takes "=" padding.
    part = {"part": name}  # the JWS part: header, payload or signature
    if not _BASE64URL.fullmatch(segment):
        raise _malformed(_("its %(part)s is not base64url") % part)
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _malformed(_("its %(part)s is not base64url") % part) from None
    # Only the canonical encoding, so one token has one spelling.
    if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode("ascii") != segment:
        raise _malformed(_("its %(part)s is not canonical base64url") % part)
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
    part = {"part": name}
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_unique_members,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed(_("its %(part)s is not valid JSON") % part) from None
    if not isinstance(value, dict):
        raise _malformed(_("its %(part)s is not a JSON object") % part)
    if not _text_is_storable(value):
        # JSON escapes can smuggle in lone surrogates (not encodable as UTF-8)
        # and NUL (refused by PostgreSQL): refuse them here, once, so no claim
        # check or database write downstream ever meets one.
        raise _malformed(_("its %(part)s holds text that is not valid Unicode") % part)
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


def _unverified_parts(raw: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, read strictly; nothing verified.

    ``jwt.decode`` parses the token again. This reading comes first because
    PyJWT's is laxer in ways that matter here: it keeps the last of duplicate
    member names, takes NaN, lone surrogates and NUL in JSON strings (which
    cannot be stored), guesses UTF-16/32 and takes "=" padding. Checking the
    signature's encoding here too means a badly spelled token is refused
    before a key is looked up, and that a bare DecodeError out of
    ``jwt.decode`` can only be about a claim (see ``_refusal``).

    The claims are parsed but not judged: no claim value is acted on before
    ``jwt.decode`` has verified the signature.
    """
    if not isinstance(raw, str) or not raw:
        raise _malformed(_("it is empty or not text"))
    if len(raw) > MAX_TOKEN_CHARS:
        raise _malformed(_("it is too long"))
    parts = raw.split(".")
    if len(parts) != 3:
        # Five parts would be an encrypted token (JWE), which is not supported.
        raise _malformed(_("it does not have three dot-separated parts"))
    header_segment, payload_segment, signature_segment = parts
    header = _json_object(_decode_segment(header_segment, "header"), "header")
    claims = _json_object(_decode_segment(payload_segment, "payload"), "payload")
    _decode_segment(signature_segment, "signature")
    return header, claims


def _check_header(
    header: Mapping[str, Any], accepted_types: Collection[str] = _ACCEPTED_TYPES
) -> tuple[str, str | None]:
    """The header's ``alg`` and ``kid`` after structural checks; a ``typ``,
    when present, must be one of ``accepted_types`` (lower case)."""
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise _malformed(_("its header has no algorithm ('alg')"))
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _malformed(_("its key id ('kid') is not a string"))
    if "crit" in header:
        # RFC 7515 4.1.11: extensions we do not understand must be rejected.
        # PyJWT understands one (RFC 7797's "b64"), which no ID token uses.
        raise OIDCError(
            "crit",
            _(
                "The ID token requires header extensions ('crit') this site does "
                "not support."
            ),
            _("Configure the provider to issue standard signed ID tokens."),
        )
    if "b64" in header:
        # RFC 7797 allows "b64" only when listed in "crit", refused above.
        raise _malformed(_("its header asks for an unencoded payload ('b64')"))
    typ = header.get("typ")
    if typ is not None and (
        not isinstance(typ, str) or typ.lower() not in accepted_types
    ):
        raise OIDCError(
            "typ",
            _(
                "The token is not an ID token (its header 'typ' names another kind "
                "of token)."
            ),
            _("Check that the provider returns an ID token from the token endpoint."),
        )
    return alg, kid


def _check_alg(alg: str, accepted: Collection[str]) -> None:
    # jwt.decode refuses these too (algorithms=accepted); checked here first
    # to say why, and before a key is looked up.
    if alg in accepted:
        return
    if alg == "none":
        detail = _("The ID token is not signed (algorithm 'none').")
    elif alg in _SHARED_SECRET_ALGS:
        detail = _(
            "The ID token is signed with %(alg)s, a shared-secret algorithm this "
            "connection does not accept."
        ) % {"alg": alg}
    else:
        # Only names we know are echoed; the header is not trusted yet.
        named = alg if alg in ASYMMETRIC_ALGS else _("an unsupported algorithm")
        detail = _(
            "The ID token is signed with %(alg)s, which this connection does not "
            "accept."
        ) % {"alg": named}
    raise OIDCError(
        "alg",
        detail,
        _(
            "Configure the provider to sign ID tokens with %(algs)s (RS256 is "
            "Okta's default)."
        )
        % {"algs": ", ".join(sorted(accepted)) or "RS256"},
    )


def _key_error(problem: str) -> OIDCError:
    return OIDCError(
        "key",
        _("The provider's key cannot verify this ID token: %(problem)s.")
        % {"problem": problem},
        _("Check the provider's ID token signing algorithm and keys."),
    )


def _resolve_key(key_resolver: KeyResolver, kid: str | None, alg: str) -> Any:
    """The key for ``kid`` and ``alg``, checked to fit ``alg``.

    The resolver raises OIDCError itself (step "jwks", "kid", ...).
    """
    key = key_resolver(kid, alg)
    problem = key_problem(key.key if isinstance(key, PyJWK) else key, alg)
    if problem is not None:
        raise _key_error(problem)
    return key


# ------------------------------------------------------ what decode refuses


def _is_seconds(value: Any) -> bool:
    # bool is an int subclass in Python; 1e400 parses to inf, and 10**400
    # (an int) overflows as soon as it meets the float clock.
    try:
        return (
            not isinstance(value, bool)
            and isinstance(value, int | float)
            and math.isfinite(value)
        )
    except OverflowError:
        return False


def _time_claim_error(claims: Mapping[str, Any]) -> OIDCError | None:
    """The error for a time claim that is present but not a JSON number.

    PyJWT reads these with int(), so it takes "1700000000" and true, and
    refuses [1] or "soon" as a bare DecodeError that does not name the claim.
    """
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_seconds(claims[name]):
            return _not_seconds(name)
    return None


def _not_seconds(name: str) -> OIDCError:
    return OIDCError(
        name,
        _("The ID token's '%(claim)s' claim is not a number of seconds.")
        % {"claim": name},
        _not_compliant(),
    )


def _issuer_error(iss: Any, issuer: str) -> OIDCError:
    if not isinstance(iss, str):
        return OIDCError(
            "iss", _("The ID token has no issuer ('iss')."), _not_compliant()
        )
    # Only raised after the signature was verified, so this is the provider's
    # own statement of its issuer, not attacker-chosen text.
    return OIDCError(
        "iss",
        _(
            "The ID token was issued by %(iss)s, but this connection's issuer is "
            "%(issuer)s; they must match exactly."
        )
        % {"iss": quoted(iss), "issuer": quoted(issuer)},
        issuer_mismatch_fix(issuer, iss),
    )


def _audiences(aud: Any) -> list[str] | None:
    """``aud`` as a non-empty list of strings, or None if it is not one."""
    audiences = [aud] if isinstance(aud, str) else aud
    if (
        not isinstance(audiences, list)
        or not audiences
        or not all(isinstance(a, str) for a in audiences)
    ):
        return None
    return audiences


def _audience_error(aud: Any) -> OIDCError:
    if _audiences(aud) is None:
        return OIDCError(
            "aud", _("The ID token has no valid audience ('aud')."), _not_compliant()
        )
    return OIDCError(
        "aud",
        _(
            "The ID token was issued to another application: its audience does not "
            "include this connection's client ID."
        ),
        _copy_client_id(),
    )


def _copy_client_id() -> str:
    return _(
        "Copy the client ID of the application you created at the provider into "
        "this connection."
    )


def _one_audience() -> str:
    return _("Configure the provider to issue ID tokens for this application only.")


def _subject_error() -> OIDCError:
    return OIDCError(
        "sub",
        _(
            "The ID token has no valid subject ('sub'): it must be a non-empty "
            "string of at most %(max)d characters."
        )
        % {"max": MAX_SUB_CHARS},
        _not_compliant(),
    )


def _missing_claim_error(name: str, issuer: str) -> OIDCError:
    if name == "iss":
        return _issuer_error(None, issuer)
    if name == "aud":
        return _audience_error(None)
    if name == "sub":
        return _subject_error()
    return OIDCError(
        name,
        _("The ID token has no '%(claim)s' claim, which is required.")
        % {"claim": name},
        _not_compliant(),
    )


def _time_error(
    exc: PyJWTError, claims: Mapping[str, Any], leeway: float
) -> OIDCError | None:
    now = time.time()
    if isinstance(exc, ExpiredSignatureError):
        return OIDCError(
            "exp",
            _("The ID token expired %(seconds)d seconds ago.")
            % {"seconds": int(now - claims["exp"])},
            _clock_fix(),
        )
    if not isinstance(exc, ImmatureSignatureError):
        return None
    iat, nbf = claims["iat"], claims.get("nbf")
    # PyJWT checks iat before nbf; name iat too when both are ahead.
    if nbf is None or iat > now + leeway or iat >= nbf:
        return OIDCError(
            "iat",
            _("The ID token says it was issued %(seconds)d seconds in the future.")
            % {"seconds": int(iat - now)},
            _clock_fix(),
        )
    return OIDCError(
        "nbf",
        _("The ID token is not valid for another %(seconds)d seconds.")
        % {"seconds": int(nbf - now)},
        _clock_fix(),
    )


def _refusal(
    exc: PyJWTError, claims: Mapping[str, Any], *, issuer: str, leeway: float
) -> OIDCError:
    """The OIDCError for what ``jwt.decode`` refused.

    PyJWT verifies the signature before it checks any claim, so ``claims``
    (parsed by ``_unverified_parts`` from the same bytes) are read here only
    for claim errors, that is once the signature is known to be good.
    """
    if isinstance(exc, InvalidSignatureError):
        return OIDCError(
            "signature",
            _("The ID token's signature is not valid."),
            _(
                "If this keeps happening, the token did not come from the "
                "configured provider or was altered; check the issuer URL."
            ),
        )
    if isinstance(exc, InvalidAlgorithmError | InvalidKeyError):
        # _check_alg and key_problem ran first; what is left is a PyJWK the
        # resolver bound to an algorithm other than the token's.
        return _key_error(_("the key is not for this algorithm"))
    if isinstance(exc, MissingRequiredClaimError):
        return _missing_claim_error(exc.claim, issuer)
    if isinstance(exc, InvalidIssuerError):
        return _issuer_error(claims.get("iss"), issuer)
    if isinstance(exc, InvalidAudienceError):
        return _audience_error(claims.get("aud"))
    if isinstance(exc, InvalidSubjectError):
        return _subject_error()
    if (
        isinstance(
            exc,
            ExpiredSignatureError | ImmatureSignatureError | InvalidIssuedAtError,
        )
        or type(exc) is DecodeError
    ):
        # The token's encoding was checked before decode, so a bare
        # DecodeError here is PyJWT failing to read exp or nbf as a number.
        error = _time_claim_error(claims) or _time_error(exc, claims, leeway)
        if error is not None:
            return error
    return _malformed(_("it could not be decoded"))


# ------------------------------------------------------------- after decode


def _check_audience(
    claims: Mapping[str, Any], client_id: str, trusted: Collection[str]
) -> None:
    """OIDC's audience rules beyond PyJWT's (client_id is among ``aud``)."""
    audiences = _audiences(claims.get("aud")) or []
    # OIDC Core 3.1.3.7 (3): reject additional audiences not trusted.
    if any(a != client_id and a not in trusted for a in audiences):
        raise OIDCError(
            "aud",
            _(
                "The ID token is also addressed to other audiences this connection "
                "does not trust."
            ),
            _one_audience(),
        )
    azp = claims.get("azp")
    if azp is None and len(audiences) > 1:
        raise OIDCError(
            "azp",
            _("The ID token has several audiences but no authorized party ('azp')."),
            _one_audience(),
        )
    if azp is not None and azp != client_id:
        raise OIDCError(
            "azp",
            _(
                "The ID token was issued to another application: its authorized "
                "party ('azp') is not this connection's client ID."
            ),
            _copy_client_id(),
        )


def _check_subject(claims: Mapping[str, Any]) -> None:
    # PyJWT has checked that it is a string.
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_CHARS:
        raise _subject_error()


def _check_auth_time(claims: Mapping[str, Any], max_age: int, leeway: int) -> None:
    # OIDC Core 3.1.2.1: with max_age, auth_time is required and the person
    # must have authenticated within max_age.
    auth_time = claims.get("auth_time")
    if auth_time is None:
        raise _missing_claim_error("auth_time", "")
    if not _is_seconds(auth_time):
        raise _not_seconds("auth_time")
    if time.time() - leeway > auth_time + max_age:
        raise OIDCError(
            "auth_time",
            _(
                "The person last authenticated at the provider longer ago than "
                "this sign-in allows."
            ),
            _("Sign in again; the provider should ask for your credentials."),
        )


def _check_nonce(claims: Mapping[str, Any], nonce: str) -> None:
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str):
        raise OIDCError(
            "nonce",
            _("The ID token carries no nonce, so it cannot be tied to this sign-in."),
            _(
                "Check that the provider returns the nonce it was sent; start the "
                "sign-in again from this site."
            ),
        )
    if not hmac.compare_digest(token_nonce.encode("utf-8"), nonce.encode("utf-8")):
        raise OIDCError(
            "nonce",
            _("The ID token belongs to a different sign-in attempt (nonce mismatch)."),
            _retry_fix(_("If it keeps happening, the response may be replayed.")),
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
    max_age_seconds: int | None = None,
    trusted_audiences: Collection[str] = (),
) -> dict[str, Any]:
    """Validate an ID token and return its claims, or raise OIDCError.

    ``allowed_algs`` is filtered to public-key algorithms. ``key_resolver``
    maps (kid, alg) to a key, e.g. ``JWKSCache.resolver(fetch, jwks_uri)``.
    ``max_age_seconds`` is the ``max_age`` sent in the authorization request,
    if any. Audiences other than ``client_id`` must be in
    ``trusted_audiences``. Times are checked against this server's clock.
    """
    if not issuer or not client_id or not nonce:
        raise ValueError("issuer, client_id and nonce must be non-empty")
    if isinstance(allowed_algs, str) or isinstance(trusted_audiences, str):
        raise ValueError("allowed_algs and trusted_audiences take lists, not a str")
    if leeway < 0:
        raise ValueError("leeway must not be negative")
    accepted = accepted_algs(allowed_algs)
    header, unverified_claims = _unverified_parts(raw)
    alg, kid = _check_header(header)
    _check_alg(alg, accepted)
    key = _resolve_key(key_resolver, kid, alg)
    try:
        claims = jwt.decode(
            raw,
            key,
            algorithms=accepted,
            audience=client_id,
            issuer=issuer,
            leeway=leeway,
            options=_DECODE_OPTIONS,
        )
    except PyJWTError as exc:
        raise _refusal(exc, unverified_claims, issuer=issuer, leeway=leeway) from None
    error = _time_claim_error(claims)
    if error is not None:
        raise error
    _check_audience(claims, client_id, trusted_audiences)
    _check_subject(claims)
    if max_age_seconds is not None:
        _check_auth_time(claims, max_age_seconds, leeway)
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
            _("The UserInfo response has no subject ('sub')."),
            _not_compliant(),
        )
    if userinfo["sub"] != id_claims.get("sub"):
        raise OIDCError(
            "userinfo_sub",
            _("The UserInfo response describes a different user than the ID token."),
            _retry_fix(_("If it keeps happening, check the provider's settings.")),
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
                _(
                    "The provider's response has no 'iss' parameter, although the "
                    "provider says it always sends one."
                ),
                _retry_fix(
                    _(
                        "If it keeps happening, the response did not come from the "
                        "configured provider."
                    )
                ),
            )
        return
    if param_iss != issuer:
        raise OIDCError(
            "iss_param",
            _(
                "The sign-in response came from a different issuer than this "
                "connection's (%(issuer)s)."
            )
            % {"issuer": quoted(issuer)},
            _retry_fix(_("If it keeps happening, check the issuer URL.")),
        )
