"""Tenant isolation for outbound calls: a per-IdP concurrency limit and a
circuit breaker, applied by ``connections.outbound.fetch`` to every call.

An IdP is a target ``host:port``. Every organization's sign-ins wait on its own
IdP while holding one of the server's threads; without a bound, one IdP that
hangs holds every thread and every other organization's console waits too.

* **Concurrency limit.** At most OUTBOUND_MAX_CONCURRENT_PER_HOST (4) calls to
  one IdP are in flight at once in this process; one more waits up to
  OUTBOUND_CONCURRENCY_WAIT (0.5 s) for a slot, then fails with
  ``OutboundError(kind="busy")`` without being sent. Keep the limit below the
  threads of a worker (gunicorn.conf.py: 8) so a hung IdP always leaves threads
  for everyone else.
* **Circuit breaker.** After OUTBOUND_CIRCUIT_FAILURES (3) consecutive calls to
  one IdP failed with a timeout or a connection failure (kinds "timeout" and
  "connection"), the last within OUTBOUND_CIRCUIT_WINDOW (60 s) of the first,
  the circuit opens: for OUTBOUND_CIRCUIT_COOLDOWN (30 s) calls to that IdP fail
  at once with ``OutboundError(kind="circuit_open")`` saying sign-in through it
  is paused. Then one call goes through as a probe (half-open) while the others
  still fail fast: an answer closes the circuit, another timeout or connection
  failure opens it for a new cool-down. Any answer counts as the IdP being up,
  an HTTP 4xx or 5xx included: it answered quickly, which is all the breaker
  protects. Refusals by the address policy say nothing about the IdP and count
  for nothing.
* **Explicit probes.** A connection check is someone asking "is this IdP up
  now?": ``as_probe(fetch)`` lets its calls through an open circuit (the
  concurrency limit still applies), and their outcome opens or closes the
  circuit like any call's. Checks run in the Celery worker, so with per-process
  state (below) a check closes the worker's circuit, not the web processes';
  those close with their own probe within a cool-down.

State is **per process**, in memory, not in the shared cache:

* the limit protects this process's threads, which is the resource a hung IdP
  takes from other tenants; a cluster-wide count would not say whether this
  process has threads left;
* no cache round trip on the hot path: a warm sign-in costs the same requests
  and queries with the guard as without (tests/connections/sso/
  test_query_budget.py), and the guard keeps working when Redis is down;
* the price: each process learns of an outage on its own, so a dead IdP gets
  OUTBOUND_CIRCUIT_FAILURES calls per process before all of them stop, and one
  probe per process per cool-down. With a handful of processes, a few requests.

A limit or failure count of 0 turns that part off. Settings are read on every
call, so overrides apply at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, ParamSpec, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from connections.outbound import OutboundError

logger = logging.getLogger(__name__)

# What a failure must be to count towards opening the circuit: the IdP did not
# answer. Everything else that reached it is an answer.
TRIP_KINDS: Final = frozenset({"timeout", "connection"})
# Failures that say nothing about the IdP: the call never left this server.
_NEUTRAL_KINDS: Final = frozenset({"policy", "busy", "circuit_open"})
# Idle hosts are forgotten once this many are known (checks can name any URL).
_MAX_IDLE_HOSTS: Final = 1024

_P = ParamSpec("_P")
_R = TypeVar("_R")

_lock = threading.Lock()


@dataclass
class _Host:
    """What this process knows of one IdP."""

    in_flight: int = 0
    # Consecutive timeout/connection failures, and when the streak began.
    failures: int = 0
    streak_began: float = 0.0
    # The circuit is open while now < open_until (monotonic); after that it is
    # half-open until a probe answers or fails.
    opened: bool = False
    open_until: float = 0.0
    probing: bool = False
    slot_free: threading.Condition = field(
        default_factory=lambda: threading.Condition(_lock)
    )

    def idle(self) -> bool:
        return not self.in_flight and not self.failures and not self.opened


_hosts: dict[str, _Host] = {}
_explicit_probe: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "outbound_explicit_probe", default=False
)


@dataclass(frozen=True)
class _Limits:
    max_concurrent: int
    wait: float
    failures: int
    window: float
    cooldown: float


def _limits() -> _Limits:
    return _Limits(
        max_concurrent=int(_setting("OUTBOUND_MAX_CONCURRENT_PER_HOST", 4)),
        wait=float(_setting("OUTBOUND_CONCURRENCY_WAIT", 0.5)),
        failures=int(_setting("OUTBOUND_CIRCUIT_FAILURES", 3)),
        window=float(_setting("OUTBOUND_CIRCUIT_WINDOW", 60.0)),
        cooldown=float(_setting("OUTBOUND_CIRCUIT_COOLDOWN", 30.0)),
    )


def host_key(url: str) -> str:
    """``host:port`` of ``url``, the unit the limit and the breaker apply to."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _display(key: str) -> str:
    # The port only when it is not the https default.
    return key.removesuffix(":443")


@contextlib.contextmanager
def guarded(url: str) -> Iterator[None]:
    """Admit one call to ``url``'s IdP, or raise OutboundError at once.

    Raises kind "circuit_open" while the IdP's circuit is open, and kind "busy"
    when its concurrency limit stays full for OUTBOUND_CONCURRENCY_WAIT. The
    outcome of the body (an OutboundError's kind, or none) feeds the breaker.
    """
    key = host_key(url)
    limits = _limits()
    probe = _admit(key, limits)
    outcome = "neutral"
    try:
        yield
        outcome = "answered"
    except OutboundError as exc:
        if exc.kind in TRIP_KINDS:
            outcome = "failed"
        elif exc.kind not in _NEUTRAL_KINDS:
            outcome = "answered"
        raise
    finally:
        _release(key, limits, probe=probe, outcome=outcome)


def as_probe(fetch: Callable[_P, _R]) -> Callable[_P, _R]:
    """``fetch`` whose calls are explicit probes: let through an open circuit."""

    @functools.wraps(fetch)
    def probing(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        token = _explicit_probe.set(True)
        try:
            return fetch(*args, **kwargs)
        finally:
            _explicit_probe.reset(token)

    return probing


def reset() -> None:
    """Forget every host's state (tests)."""
    with _lock:
        _hosts.clear()


def state(url: str) -> str:
    """The circuit of ``url``'s IdP: "closed", "open" or "half-open"."""
    with _lock:
        host = _hosts.get(host_key(url))
        if host is None or not host.opened:
            return "closed"
        return "open" if time.monotonic() < host.open_until else "half-open"


# ---------------------------------------------------------------------------


def _admit(key: str, limits: _Limits) -> bool:
    """Take a slot for one call; True when the call is the half-open probe."""
    explicit = _explicit_probe.get()
    deadline = time.monotonic() + max(limits.wait, 0.0)
    with _lock:
        host = _hosts.get(key)
        if host is None:
            if len(_hosts) >= _MAX_IDLE_HOSTS:
                _forget_idle()
            host = _hosts[key] = _Host()
        while True:
            now = time.monotonic()
            probe = False
            if host.opened and limits.failures > 0 and not explicit:
                if now < host.open_until or host.probing:
                    raise _circuit_open(key, host, limits, now)
                probe = True
            if limits.max_concurrent <= 0 or host.in_flight < limits.max_concurrent:
                host.in_flight += 1
                if probe:
                    host.probing = True
                return probe
            remaining = deadline - now
            if remaining <= 0:
                logger.info("Refused a call to %s: %d in flight", key, host.in_flight)
                raise _busy(key, limits)
            host.slot_free.wait(remaining)


def _release(key: str, limits: _Limits, *, probe: bool, outcome: str) -> None:
    with _lock:
        host = _hosts.get(key)
        if host is None:  # reset() while the call was in flight
            return
        host.in_flight = max(host.in_flight - 1, 0)
        if probe:
            host.probing = False
        host.slot_free.notify_all()
        now = time.monotonic()
        if outcome == "answered":
            if host.opened:
                logger.warning("Circuit for %s closed: it answered again", key)
            host.failures = 0
            host.opened = False
        elif outcome == "failed" and limits.failures > 0:
            # A streak too old to count starts again (while open, every call
            # since the streak began has failed or been refused).
            if not host.opened and now - host.streak_began > limits.window:
                host.failures = 0
            if not host.failures:
                host.streak_began = now
            host.failures += 1
            if host.opened or host.failures >= limits.failures:
                if not host.opened or now >= host.open_until:
                    logger.warning(
                        "Circuit for %s opened for %gs after %d failed calls",
                        key,
                        limits.cooldown,
                        host.failures,
                    )
                host.opened = True
                host.open_until = max(host.open_until, now + limits.cooldown)


def _forget_idle() -> None:
    for key in [key for key, host in _hosts.items() if host.idle()]:
        del _hosts[key]


def _circuit_open(key: str, host: _Host, limits: _Limits, now: float) -> OutboundError:
    if now < host.open_until:
        seconds = max(1, math.ceil(host.open_until - now))
        paused = f"paused for {seconds} more second{'s' if seconds != 1 else ''}"
    else:
        paused = "paused while one request checks whether it is back"
    return OutboundError(
        f"The identity provider at {_display(key)} did not answer the last "
        f"{host.failures} requests; sign-in through it is "
        f"{paused}. Try again shortly; if it persists, check the IdP's status.",
        kind="circuit_open",
    )


def _busy(key: str, limits: _Limits) -> OutboundError:
    return OutboundError(
        f"The identity provider at {_display(key)} is slow: {limits.max_concurrent} "
        "requests to it from this server are still waiting for an answer, so this "
        "one was not sent. Try again shortly; if it persists, check the IdP's "
        "status (if many organizations share this IdP, raise "
        "OUTBOUND_MAX_CONCURRENT_PER_HOST).",
        kind="busy",
    )


def _setting(name: str, default: Any) -> Any:
    # As outbound._setting: read per call; outside a configured project the
    # defaults hold.
    try:
        return getattr(settings, name, default)
    except ImproperlyConfigured:
        return default
