"""Concurrent SP-initiated sign-ins against a running app, as browsers do them.

Each client is one ``requests.Session`` (one browser): it keeps its IdP
session cookie, so after its first sign-in the IdP's authorize step redirects
straight back. A sign-in is: GET the app's start URL, follow it through the
IdP's authorize endpoint (the IdP fixture's login helper), GET the callback
on the app (timed), then the page it lands on, which must name the person.
The app's own cookies are dropped after each sign-in, so every sign-in makes
a new app session, as a new visit would.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tests.fixtures.idp import IdP

REQUEST_TIMEOUT_S = 30.0
MAX_APP_REDIRECTS = 5
# Django's cookies (both apps); the IdP's cookies have other names.
APP_COOKIES = frozenset({"sessionid", "csrftoken", "messages"})


class SignInFailed(AssertionError):
    """A sign-in did not end signed in."""


@dataclass(frozen=True)
class App:
    """How to sign in to one app: where to start and what proves success."""

    name: str
    origin: str
    start_path: str


@dataclass
class LoadResult:
    """What one load window measured."""

    app: str
    clients: int
    window_s: float
    elapsed_s: float
    signins: int
    callback_s: list[float]
    signin_s: list[float]
    errors: int
    error_samples: list[str]
    idp_counts: dict[str, int] = field(default_factory=dict)
    # CPU seconds spent during the window, by whom (see run_load's probe).
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.signins / self.elapsed_s if self.elapsed_s else 0.0


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _forget_app_session(session: requests.Session) -> None:
    # iter(): types-requests would give list() the jar's keys, not its Cookies.
    for cookie in list(iter(session.cookies)):
        if cookie.name in APP_COOKIES:
            session.cookies.clear(cookie.domain, cookie.path, cookie.name)


def sign_in(
    session: requests.Session, idp: IdP, app: App, email: str
) -> tuple[float, float]:
    """One full sign-in; returns (callback seconds, whole sign-in seconds)."""
    began = time.perf_counter()
    start = session.get(
        app.origin + app.start_path, allow_redirects=False, timeout=REQUEST_TIMEOUT_S
    )
    if start.status_code != 302:
        raise SignInFailed(f"{app.name} start: HTTP {start.status_code}")
    back = idp.login(session, urljoin(start.url, start.headers["Location"]), email)
    if not back.startswith(app.origin + "/"):
        raise SignInFailed(f"{app.name}: the IdP sent the browser to {back[:120]}")
    called = time.perf_counter()
    response = session.get(back, allow_redirects=False, timeout=REQUEST_TIMEOUT_S)
    callback_s = time.perf_counter() - called
    if response.status_code != 302:
        raise SignInFailed(f"{app.name} callback: HTTP {response.status_code}")
    for _ in range(MAX_APP_REDIRECTS):
        if not response.is_redirect:
            break
        response = session.get(
            urljoin(response.url, response.headers["Location"]),
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT_S,
        )
    if response.status_code != 200 or email not in response.text:
        raise SignInFailed(
            f"{app.name} landed on {response.url} (HTTP {response.status_code}) "
            "without the person signed in"
        )
    _forget_app_session(session)
    return callback_s, time.perf_counter() - began


def browser(idp: IdP) -> requests.Session:
    """A cookie jar that, like a browser, sends a GET again once when a kept-alive
    connection turns out to have been closed by the server meanwhile."""
    session = idp.http_session()
    retry = Retry(total=1, connect=1, read=1, status=0, other=0, redirect=0)
    for prefix in ("http://", "https://"):
        session.mount(prefix, HTTPAdapter(max_retries=retry))
    return session


def first_sign_ins(idp: IdP, app: App, emails: list[str]) -> list[requests.Session]:
    """One browser per email, each signed in once through the IdP's form."""
    sessions = []
    for email in emails:
        session = browser(idp)
        sign_in(session, idp, app, email)
        sessions.append(session)
    return sessions


def run_load(
    idp: IdP,
    app: App,
    sessions: list[requests.Session],
    emails: list[str],
    window_s: float,
    probe: Callable[[], dict[str, float]] | None = None,
) -> LoadResult:
    """Every client signs in again and again for ``window_s``; nothing overlaps
    the window's end but the sign-ins already under way, which are counted.

    ``probe`` returns cumulative CPU seconds by component; the result holds
    what each spent during the window.
    """
    lock = threading.Lock()
    callback_s: list[float] = []
    signin_s: list[float] = []
    errors: list[str] = []
    ready = threading.Barrier(len(sessions) + 1)
    deadline = [0.0]

    def client(session: requests.Session, email: str) -> None:
        ready.wait()
        while time.perf_counter() < deadline[0]:
            try:
                timing = sign_in(session, idp, app, email)
            except (requests.RequestException, AssertionError) as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                session.cookies.clear()
                continue
            with lock:
                callback_s.append(timing[0])
                signin_s.append(timing[1])

    threads = [
        threading.Thread(target=client, args=pair, daemon=True)
        for pair in zip(sessions, emails, strict=True)
    ]
    for thread in threads:
        thread.start()
    idp.reset_counts()
    cpu_before = probe() if probe else {}
    started = time.perf_counter()
    deadline[0] = started + window_s
    ready.wait()
    for thread in threads:
        # Bounded: a sign-in is a few requests of at most REQUEST_TIMEOUT_S each.
        thread.join(timeout=window_s + 8 * REQUEST_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    cpu_after = probe() if probe else {}
    counts = idp.request_counts()
    return LoadResult(
        app=app.name,
        clients=len(sessions),
        window_s=window_s,
        elapsed_s=elapsed,
        signins=len(callback_s),
        callback_s=callback_s,
        signin_s=signin_s,
        errors=len(errors),
        error_samples=[f"{n}x {msg}" for msg, n in Counter(errors).most_common(3)],
        idp_counts=counts,
        cpu_s={name: cpu_after[name] - cpu_before[name] for name in cpu_after},
    )
