"""Logout token validation (OpenID Connect Back-Channel Logout 1.0, 2.4 and 2.6).

A logout token is a JWT the provider POSTs to the back-channel logout URI to
end a person's sessions. It is checked as strictly as an ID token, with the
same code (``connections.oidc.tokens``: the strict reading of the token, the
header rules, the algorithm and key checks, PyJWT's ``jwt.decode`` for the
signature and the registered claims), and then by the rules of its own:

* ``typ``, when present, is ``logout+jwt`` (so an ID token, whose ``typ`` is
  ``JWT``, is never taken for a logout token, nor a logout token for an ID
  token: ``tokens`` refuses ``logout+jwt``);
* ``iat`` is required and recent (``max_age`` seconds), ``exp`` honoured when
  present, ``jti`` required (the caller keeps it used once);
* ``events`` holds the back-channel logout event, whose value is a JSON
  object;
* ``sid`` and/or ``sub``, and never a ``nonce`` (which would make it usable
  as an ID token somewhere).

Pure: no ORM, no request, no cache. The caller finds the connection from
``logout_token_addressees`` (unverified ``iss`` and ``aud``, only to choose
which connection's keys and client ID to validate with) and records ``jti``.
Error messages are read by the provider's developers in the JSON answer and
by admins in the log; they never contain the token or a claim's value.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from django.utils.translation import gettext as _
from jwt.exceptions import PyJWTError
from jwt.types import Options

from connections.oidc.errors import OIDCError
from connections.oidc.jwks import KeyResolver

# The shared steps of ID token validation, used as they are: one reading of a
# JWT, one set of header, algorithm and key rules.
from connections.oidc.tokens import (
    MAX_SUB_CHARS,
    _audiences,
    _check_alg,
    _check_audience,
    _check_header,
    _refusal,
    _resolve_key,
    _time_claim_error,
    _unverified_parts,
    accepted_algs,
)

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# RFC 7515 4.1.9: "logout+jwt", or the full media type.
LOGOUT_TOKEN_TYPES = frozenset({"logout+jwt", "application/logout+jwt"})
# How old a logout token may be (its iat), on top of the leeway. The provider
# sends it the moment the session ends; an old one is a replay or a queue
# that has fallen far behind, and either way the jti record is gone by then.
MAX_LOGOUT_TOKEN_AGE = 300
MAX_JTI_CHARS = 255
MAX_SID_CHARS = 255

_DECODE_OPTIONS: Options = {
    # exp is optional in a logout token (2.4); PyJWT checks it when present.
    "require": ["iss", "aud", "iat", "jti"],
    # Checked below, to name the claim in the refusal.
    "verify_jti": False,
}

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT",
    "MAX_LOGOUT_TOKEN_AGE",
    "LogoutToken",
    "jti_ttl",
    "logout_refusal",
    "logout_token_addressees",
    "logout_token_validate",
]


@dataclass(frozen=True)
class LogoutToken:
    """What a valid logout token asks: end the sessions of ``sid`` (the
    provider's session) or, without one, of ``sub`` (the person)."""

    issuer: str
    sub: str | None
    sid: str | None
    jti: str
    iat: float


def _description(step: str) -> str:
    """The sentence for a refused logout token, by step (the JSON's ``code``)."""
    sentences = {
        "malformed": _("The logout token is not a well-formed signed JWT."),
        "crit": _("The logout token requires header extensions ('crit')."),
        "typ": _("The logout token's 'typ' header is not 'logout+jwt'."),
        "alg": _(
            "The logout token is not signed with an accepted public-key algorithm."
        ),
        "key": _("The provider's key cannot verify this logout token."),
        "kid": _("The logout token is signed with a key the provider does not list."),
        "jwks": _("The provider's key set could not be read."),
        "signature": _("The logout token's signature is not valid."),
        "iss": _("The logout token's issuer is not a live connection's issuer."),
        "aud": _("The logout token is not addressed to a live connection's client."),
        "azp": _("The logout token's authorized party ('azp') is not the client."),
        "iat": _("The logout token's 'iat' is missing, in the future or too old."),
        "exp": _("The logout token has expired."),
        "nbf": _("The logout token is not valid yet ('nbf')."),
        "jti": _("The logout token has no usable 'jti'."),
        "events": _(
            "The logout token's 'events' claim does not hold the back-channel "
            "logout event as a JSON object."
        ),
        "sid": _("The logout token has neither a usable 'sid' nor 'sub'."),
        "sub": _("The logout token's 'sub' is not a usable subject."),
        "nonce": _("A logout token must not carry a 'nonce'."),
        "jti_replayed": _("This logout token was already used (its 'jti')."),
    }
    return sentences.get(step, _("The logout token is not valid."))


def logout_refusal(step: str, fix: str = "") -> OIDCError:
    """The refusal of a logout token at ``step``, worded for a logout token."""
    return OIDCError(step, _description(step), fix)


def _as_logout_error(exc: OIDCError) -> OIDCError:
    """An ID token step's refusal, reworded for a logout token (same step).

    A key set that could not be read keeps its detail: it names the URL and
    the problem, which the provider's admin needs.
    """
    if exc.step == "jwks":
        return exc
    # The fix of an ID token's refusal speaks of sign-ins: left out.
    return logout_refusal(exc.step)


def logout_token_addressees(raw: object) -> tuple[str, tuple[str, ...]]:
    """The unverified ``iss`` and audiences of a logout token.

    Only to choose the connection whose keys and client ID validate it; nothing
    is acted on before ``logout_token_validate``. Raises OIDCError (step
    "malformed", "iss" or "aud").
    """
    try:
        _header, claims = _unverified_parts(raw)
    except OIDCError as exc:
        raise _as_logout_error(exc) from None
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise logout_refusal("iss")
    audiences = _audiences(claims.get("aud"))
    if audiences is None:
        raise logout_refusal("aud")
    return iss, tuple(audiences)


def _check_logout_claims(
    claims: dict[str, Any], *, leeway: int, max_age: int, now: float
) -> LogoutToken:
    error = _time_claim_error(claims)
    if error is not None:
        raise _as_logout_error(error)
    if now - claims["iat"] > max_age + leeway:
        raise logout_refusal(
            "iat", _("Check both clocks (NTP); the provider sends it at once.")
        )
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(
        events.get(BACKCHANNEL_LOGOUT_EVENT), dict
    ):
        raise logout_refusal("events")
    if "nonce" in claims:
        raise logout_refusal("nonce")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti.strip() or len(jti) > MAX_JTI_CHARS:
        raise logout_refusal("jti")
    sub, sid = claims.get("sub"), claims.get("sid")
    if sub is not None and (
        not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_CHARS
    ):
        raise logout_refusal("sub")
    if sid is not None and (
        not isinstance(sid, str) or not sid.strip() or len(sid) > MAX_SID_CHARS
    ):
        raise logout_refusal("sid")
    if sub is None and sid is None:
        raise logout_refusal("sid")
    return LogoutToken(
        issuer=claims["iss"], sub=sub, sid=sid, jti=jti, iat=float(claims["iat"])
    )


def logout_token_validate(
    raw: str,
    *,
    issuer: str,
    client_id: str,
    key_resolver: KeyResolver,
    allowed_algs: Sequence[str],
    leeway: int = 60,
    max_age: int = MAX_LOGOUT_TOKEN_AGE,
) -> LogoutToken:
    """Validate a logout token for one connection, or raise OIDCError.

    Back-Channel Logout 1.0, 2.6: the signature with the provider's keys
    (public-key algorithms it advertises), ``iss`` exactly ``issuer``, ``aud``
    holding ``client_id`` (and ``azp`` as for ID tokens), ``iat`` within
    ``max_age`` + ``leeway``, ``exp`` if present, the ``events`` member,
    ``sid`` and/or ``sub``, no ``nonce``, a ``jti`` and a ``typ`` of
    ``logout+jwt`` when there is one. ``jti`` is returned for the caller to
    keep used once.
    """
    if not issuer or not client_id:
        raise ValueError("issuer and client_id must be non-empty")
    if isinstance(allowed_algs, str):
        raise ValueError("allowed_algs takes a list, not a str")
    if leeway < 0 or max_age <= 0:
        raise ValueError("leeway must not be negative and max_age must be positive")
    accepted = accepted_algs(allowed_algs)
    try:
        header, unverified_claims = _unverified_parts(raw)
        alg, kid = _check_header(header, LOGOUT_TOKEN_TYPES)
        _check_alg(alg, accepted)
        key = _resolve_key(key_resolver, kid, alg)
    except OIDCError as exc:
        raise _as_logout_error(exc) from None
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
        error = _refusal(exc, unverified_claims, issuer=issuer, leeway=leeway)
        raise _as_logout_error(error) from None
    try:
        _check_audience(claims, client_id, ())
    except OIDCError as exc:
        raise _as_logout_error(exc) from None
    return _check_logout_claims(claims, leeway=leeway, max_age=max_age, now=time.time())


def jti_ttl(leeway: int, max_age: int = MAX_LOGOUT_TOKEN_AGE) -> int:
    """How long a used ``jti`` must be remembered: past that, its token's
    ``iat`` is too old to be accepted anyway (a future ``iat`` counts too)."""
    return max_age + 2 * leeway + 1
