"""Login state for one sign-in: ``state``, ``nonce`` and PKCE verifier in the session.

Each sign-in started in a browser gets its own entry, keyed by its ``state``,
so several can run in parallel (two tabs, two organizations). An entry binds
the sign-in to the organization, connection, configuration and issuer it was
started for, and is consumed exactly once by the callback:

* the session entry is removed when it is read, and
* a marker in the shared cache (``cache.add`` is atomic in Redis) makes a
  second use fail even when two requests race with the same session.

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

from connections.oidc.discovery import CacheLike
from connections.oidc.pkce import (
    code_challenge_s256,
    code_verifier,
    new_nonce,
    new_state,
)

SESSION_KEY = "sso_flows"
# A browser rarely has more than a couple of sign-ins in flight; the cap keeps
# a script that starts thousands from bloating its own session.
MAX_PARALLEL_FLOWS = 10
# Expired entries are kept (and their cache markers live) a while longer so a
# late callback is reported as "expired", not as "unknown".
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
class LoginFlow:
    """One sign-in in flight, as stored in the session."""

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
    # The owner who started a test sign-in; None for a real sign-in.
    actor_id: int | None = None

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
    "state_expired"; ``target`` says which organization's sign-in it was,
    when that is known.
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


def _flows(session: MutableMapping[str, Any]) -> dict[str, dict[str, Any]]:
    stored = session.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return {}
    return {k: v for k, v in stored.items() if isinstance(v, dict)}


def flow_begin(
    session: MutableMapping[str, Any],
    cache: CacheLike,
    *,
    organization_id: int,
    connection_id: int,
    config_id: int,
    issuer: str,
    redirect_uri: str,
    next_url: str = "",
    is_test: bool = False,
    actor_id: int | None = None,
    ttl: int,
    now: float | None = None,
) -> LoginFlow:
    """Start a sign-in: fresh ``state``, ``nonce`` and verifier, kept in the session."""
    now = time.time() if now is None else now
    flow = LoginFlow(
        state=new_state(),
        nonce=new_nonce(),
        code_verifier=code_verifier(),
        organization_id=organization_id,
        connection_id=connection_id,
        config_id=config_id,
        issuer=issuer,
        redirect_uri=redirect_uri,
        next_url=next_url,
        created_at=now,
        is_test=is_test,
        actor_id=actor_id,
    )
    retention = ttl * RETENTION_FACTOR
    flows = {
        state: entry
        for state, entry in _flows(session).items()
        if now - float(entry.get("created_at", 0)) < retention
    }
    flows[flow.state] = asdict(flow)
    if len(flows) > MAX_PARALLEL_FLOWS:
        oldest_first = sorted(flows.items(), key=lambda item: item[1]["created_at"])
        flows = dict(oldest_first[-MAX_PARALLEL_FLOWS:])
    # Reassigning (rather than mutating) marks a Django session as modified.
    session[SESSION_KEY] = flows
    cache.set(_issued_key(flow.state), asdict(flow.target), retention)
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
        raise FlowError("state_missing", "The response has no 'state' parameter.", None)
    if len(state) > MAX_STATE_CHARS:
        raise FlowError("state_unknown", "The response's 'state' is not ours.", None)
    flows = _flows(session)
    entry = flows.pop(state, None)
    if entry is None:
        used = _target_from(cache.get(_used_key(state)))
        if used is not None:
            raise FlowError(
                "state_reused",
                "This sign-in response was already used once (a reload, the back "
                "button or a replay).",
                used,
            )
        issued = _target_from(cache.get(_issued_key(state)))
        raise FlowError(
            "state_unknown",
            "The sign-in response does not belong to a sign-in started in this "
            "browser: it was started in another browser, the session cookie was "
            "lost (check that SITE_URL matches the address people use), or the "
            "link was forwarded.",
            issued,
        )
    session[SESSION_KEY] = flows
    try:
        flow = LoginFlow(**entry)
    except TypeError:
        raise FlowError(
            "state_unknown", "The stored sign-in state is unreadable.", None
        ) from None
    retention = ttl * RETENTION_FACTOR
    if not cache.add(_used_key(state), asdict(flow.target), retention):
        raise FlowError(
            "state_reused",
            "This sign-in response was already used once (two requests at the "
            "same time, or a replay).",
            flow.target,
        )
    if not 0 <= now - flow.created_at <= ttl:
        raise FlowError(
            "state_expired",
            f"The sign-in took longer than {_duration(ttl)} to come back from the "
            "identity provider.",
            flow.target,
        )
    return flow


def _duration(seconds: int) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"
