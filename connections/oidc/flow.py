"""Login state for one sign-in, on top of mozilla-django-oidc's state store.

mozilla-django-oidc's request view makes ``state``, ``nonce`` and the PKCE
verifier and keeps them in the session under ``oidc_states``, one entry per
``state`` (so several sign-ins can run in parallel: two tabs, two
organizations), trimmed to ``OIDC_MAX_STATES`` entries, oldest first. This
module adds what multi-tenancy needs to that same entry, and takes it out
again exactly once in the callback:

* ``flow_bind`` binds the entry to the organization, connection,
  configuration and issuer it was started for (and, for a test sign-in, to
  the owner or the delegate who started it), under ``BINDING_KEY``;
* ``flow_consume`` removes the entry from the session when it is read, and a
  marker in the shared cache (``cache.add`` is atomic in Redis) makes a second
  use fail even when two requests race with the same session, or when an old
  copy of the session comes back; it refuses an entry without a nonce or a
  valid PKCE verifier, and one older than the TTL (the library keeps no
  expiry).

The cache also remembers which organization issued a ``state`` and which
``state`` values were used, so a callback whose ``state`` is not (or no
longer) in this browser's session can still be reported to the right
organization's sign-in events, which is where admins look.

Like the rest of this package the module is free of the ORM and HTTP: the
session is any mutable mapping and the cache any ``CacheLike``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from connections.oidc.discovery import CacheLike
from connections.oidc.pkce import code_challenge_s256

# mozilla-django-oidc's session key: state -> {"nonce", "code_verifier",
# "added_on"}, written by its add_state_and_verifier_and_nonce_to_session.
SESSION_KEY = "oidc_states"
# Our binding, kept inside the library's entry so that one removal (the
# callback's, or the library's trimming) takes both.
BINDING_KEY = "sso"
# Expired entries' cache markers live a while longer so a late callback is
# reported as "expired" or "reused", not as "unknown".
RETENTION_FACTOR = 3
MAX_STATE_CHARS = 200


class FlowCache(CacheLike, Protocol):
    """A cache with an atomic ``add`` (Django's cache; Redis in production)."""

    def add(self, key: str, value: Any, timeout: Any = None) -> bool: ...


@dataclass(frozen=True)
class FlowTarget:
    """Who a sign-in belongs to: enough to report it, nothing secret."""

    organization_id: int
    connection_id: int
    is_test: bool


@dataclass(frozen=True)
class FlowBinding:
    """What we store beside the library's nonce and verifier."""

    organization_id: int
    connection_id: int
    config_id: int
    issuer: str
    redirect_uri: str
    next_url: str
    created_at: float
    is_test: bool = False
    # The owner who started a test sign-in; None for a real sign-in.
    actor_id: int | None = None
    # Or the key of the delegate (a setup link's IT admin) who started it.
    delegate: str = ""


@dataclass(frozen=True)
class LoginFlow:
    """One sign-in in flight: the library's secrets and our binding."""

    state: str
    nonce: str
    code_verifier: str
    organization_id: int
    connection_id: int
    config_id: int
    issuer: str
    redirect_uri: str
    next_url: str
    created_at: float
    is_test: bool = False
    actor_id: int | None = None
    delegate: str = ""

    @property
    def code_challenge(self) -> str:
        """The PKCE S256 challenge sent in the authorization request."""
        return code_challenge_s256(self.code_verifier)

    @property
    def target(self) -> FlowTarget:
        return FlowTarget(self.organization_id, self.connection_id, self.is_test)


class FlowError(Exception):
    """The callback's ``state`` cannot be used.

    ``step`` is "state_missing", "state_unknown", "state_reused" or
    "state_expired", the stable code; ``detail`` is the sentence for the
    organization's admins (gettext, read when the error is raised); ``target``
    says which organization's sign-in it was, when that is known.
    """

    def __init__(self, step: str, detail: str, target: FlowTarget | None) -> None:
        self.step = step
        self.detail = detail
        self.target = target
        super().__init__(detail)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _issued_key(state: str) -> str:
    return f"sso:flow:issued:{_digest(state)}"


def _used_key(state: str) -> str:
    return f"sso:flow:used:{_digest(state)}"


def _target_from(value: Any) -> FlowTarget | None:
    if not isinstance(value, dict):
        return None
    try:
        return FlowTarget(
            organization_id=int(value["organization_id"]),
            connection_id=int(value["connection_id"]),
            is_test=bool(value["is_test"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _states(session: MutableMapping[str, Any]) -> dict[str, dict[str, Any]]:
    stored = session.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return {}
    return {k: v for k, v in stored.items() if isinstance(v, dict)}


def _usable_secrets(entry: dict[str, Any]) -> tuple[str, str] | None:
    """The entry's nonce and PKCE verifier, or None unless both are usable."""
    nonce, verifier = entry.get("nonce"), entry.get("code_verifier")
    if not isinstance(nonce, str) or not nonce or not isinstance(verifier, str):
        return None
    try:
        code_challenge_s256(verifier)
    except ValueError:
        return None
    return nonce, verifier


def _flow_from(state: str, entry: dict[str, Any]) -> LoginFlow | None:
    pair = _usable_secrets(entry)
    binding = entry.get(BINDING_KEY)
    if pair is None or not isinstance(binding, dict):
        return None
    try:
        bound = FlowBinding(**binding)
    except TypeError:
        return None
    nonce, verifier = pair
    return LoginFlow(state=state, nonce=nonce, code_verifier=verifier, **asdict(bound))


def flow_bind(
    session: MutableMapping[str, Any],
    cache: CacheLike,
    state: str,
    *,
    organization_id: int,
    connection_id: int,
    config_id: int,
    issuer: str,
    redirect_uri: str,
    next_url: str = "",
    is_test: bool = False,
    actor_id: int | None = None,
    delegate: str = "",
    ttl: int,
    now: float | None = None,
) -> LoginFlow:
    """Bind the sign-in the library just stored under ``state`` to its target.

    Raises ValueError when there is no entry for ``state`` with a nonce and a
    PKCE verifier: a sign-in is never started without them.
    """
    states = _states(session)
    entry = states.get(state)
    pair = _usable_secrets(entry) if entry is not None else None
    if entry is None or pair is None:
        raise ValueError("no login state with a nonce and a PKCE verifier")
    binding = FlowBinding(
        organization_id=organization_id,
        connection_id=connection_id,
        config_id=config_id,
        issuer=issuer,
        redirect_uri=redirect_uri,
        next_url=next_url,
        created_at=time.time() if now is None else now,
        is_test=is_test,
        actor_id=actor_id,
        delegate=delegate,
    )
    entry[BINDING_KEY] = asdict(binding)
    # Reassigning (rather than mutating) marks a Django session as modified.
    session[SESSION_KEY] = states
    nonce, verifier = pair
    flow = LoginFlow(
        state=state, nonce=nonce, code_verifier=verifier, **asdict(binding)
    )
    cache.set(_issued_key(state), asdict(flow.target), ttl * RETENTION_FACTOR)
    return flow


def flow_consume(
    session: MutableMapping[str, Any],
    cache: FlowCache,
    state: str | None,
    *,
    ttl: int,
    now: float | None = None,
) -> LoginFlow:
    """Take the sign-in a callback's ``state`` belongs to, or raise FlowError.

    The entry is gone from the session afterwards whatever the outcome, so a
    state can never be tried twice.
    """
    now = time.time() if now is None else now
    if not state:
        raise FlowError(
            "state_missing", _("The response has no 'state' parameter."), None
        )
    if len(state) > MAX_STATE_CHARS:
        raise FlowError("state_unknown", _("The response's 'state' is not ours."), None)
    states = _states(session)
    entry = states.pop(state, None)
    if entry is None:
        used = _target_from(cache.get(_used_key(state)))
        if used is not None:
            raise FlowError(
                "state_reused",
                _(
                    "This sign-in response was already used once (a reload, the "
                    "back button or a replay)."
                ),
                used,
            )
        issued = _target_from(cache.get(_issued_key(state)))
        raise FlowError(
            "state_unknown",
            _(
                "The sign-in response does not belong to a sign-in started in this "
                "browser: it was started in another browser, the session cookie "
                "was lost (check that SITE_URL matches the address people use), the "
                "browser started too many sign-ins since, or the link was forwarded."
            ),
            issued,
        )
    session[SESSION_KEY] = states
    flow = _flow_from(state, entry)
    if flow is None:
        raise FlowError(
            "state_unknown",
            _(
                "The stored sign-in state is unreadable, or has no nonce or PKCE "
                "verifier."
            ),
            _target_from(cache.get(_issued_key(state))),
        )
    retention = ttl * RETENTION_FACTOR
    if not cache.add(_used_key(state), asdict(flow.target), retention):
        raise FlowError(
            "state_reused",
            _(
                "This sign-in response was already used once (two requests at the "
                "same time, or a replay)."
            ),
            flow.target,
        )
    if not 0 <= now - flow.created_at <= ttl:
        raise FlowError(
            "state_expired",
            _(
                "The sign-in took longer than %(duration)s to come back from the "
                "identity provider."
            )
            % {"duration": _duration(ttl)},
            flow.target,
        )
    return flow


def _duration(seconds: int) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        minutes = seconds // 60
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {
            "count": minutes
        }
    return ngettext("%(count)d second", "%(count)d seconds", seconds) % {
        "count": seconds
    }
