"""Section 8: tenant isolation. Org B's console while org A's IdP hangs.

Org A signs in through its own IdP, a second instance of tests/idp/server.mjs
(another host:port, as another organization's IdP is); org B's owner loads a
console page. Both go to our app under the shipped gunicorn.conf.py (gthread,
a worker per core, 8 threads each), with only the address changed. Three
windows, the same load in each:

1. org A's IdP answering;
2. org A's IdP holding its server-to-server answers (discovery, token, keys)
   HANG_MS, longer than OUTBOUND_READ_TIMEOUT, so the app sees it hang;
3. the same hang against the app with the guard turned off
   (OUTBOUND_MAX_CONCURRENT_PER_HOST=0, OUTBOUND_CIRCUIT_FAILURES=0), which
   shows what the per-IdP limit and circuit breaker are worth.

Org A's people (BENCH_ISOLATION_A_CLIENTS, twice the threads of two workers by
default) try to sign in again ISOLATION_A_PAUSE_S after each attempt ends, as
people clicking "sign in again" do; org B's (BENCH_ISOLATION_B_CLIENTS) load
the members page with a short pause between loads.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urljoin

import requests

from . import stack
from .load import App, _forget_app_session, first_sign_ins
from .report import IsolationWindow

A_CLIENTS = int(os.environ.get("BENCH_ISOLATION_A_CLIENTS", "16"))
B_CLIENTS = int(os.environ.get("BENCH_ISOLATION_B_CLIENTS", "4"))
WINDOW_S = float(os.environ.get("BENCH_ISOLATION_WINDOW_S", "12"))
HANG_MS = 10_000
A_PAUSE_S = 0.5
B_PAUSE_S = 0.05
# A failed sign-in that took less than this "failed at once".
FAST_S = 1.0
REQUEST_TIMEOUT_S = 30.0
JOIN_TIMEOUT_S = 60.0
A_LOGIN_PATH = "iso-a"
A_DOMAIN = "iso-a.test"
B_LOGIN_PATH = "iso-b"
B_ROWS = 50
B_PAGE = f"/orgs/{B_LOGIN_PATH}/members/"
B_MARKER = "mem-row-"
GUARD_OFF = {"OUTBOUND_MAX_CONCURRENT_PER_HOST": "0", "OUTBOUND_CIRCUIT_FAILURES": "0"}


def measure(processes: stack.Processes, idp_a: Any, env: dict[str, str]) -> list:
    """The three windows; ``idp_a`` is org A's own IdP, ``env`` our app's."""
    from django.conf import settings
    from django.test import Client

    from . import scale

    port = stack.free_port()
    site = f"http://127.0.0.1:{port}"
    app_env = {**env, "SITE_URL": site, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    secret = secrets.token_urlsafe(24)
    idp_a.add_client("iso-a", secret, [site + "/sso/callback/"])
    scale.seed_signin_org(
        login_path=A_LOGIN_PATH,
        domain=A_DOMAIN,
        issuer=idp_a.issuer,
        client_id="iso-a",
        secret=secret,
    )
    emails = [f"iso-{i:02d}@{A_DOMAIN}" for i in range(A_CLIENTS)]
    for email in emails:
        idp_a.add_account(email.split("@")[0], email, groups=["Engineering"])
    _org_b, owner_b = scale.seed_console_org(B_LOGIN_PATH, B_ROWS)
    b_sessions = []
    for _ in range(B_CLIENTS):
        client = Client()
        client.force_login(owner_b)
        browser = requests.Session()
        browser.trust_env = False
        browser.cookies.set(
            settings.SESSION_COOKIE_NAME,
            client.cookies[settings.SESSION_COOKIE_NAME].value,
            domain="127.0.0.1",
            path="/",
        )
        b_sessions.append(browser)

    app = App("org A", _start(processes, "isolation", app_env), _start_path())
    windows = []
    try:
        # One sign-in each through the IdP's form: from then on the IdP
        # redirects straight back, and discovery and keys are in the cache.
        a_sessions = first_sign_ins(idp_a, app, emails)
        for label, hang in (("answering", False), ("hanging", True)):
            windows.append(
                _window(label, True, idp_a, app, a_sessions, emails, b_sessions, hang)
            )
        processes.stop("isolation")
        app = App(
            "org A",
            _start(processes, "isolation-unguarded", app_env | GUARD_OFF),
            _start_path(),
        )
        windows.append(
            _window("hanging", False, idp_a, app, a_sessions, emails, b_sessions, True)
        )
    finally:
        processes.stop("isolation")
        processes.stop("isolation-unguarded")
    return windows


def _start_path() -> str:
    return f"/sso/login/{A_LOGIN_PATH}/?next=/accounts/me/"


def _start(processes: stack.Processes, name: str, env: dict[str, str]) -> str:
    """Our app under the shipped gunicorn.conf.py; returns its origin."""
    log = processes.start(
        name,
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "gunicorn.conf.py"],
        env,
    )
    origin = "http://" + env["GUNICORN_BIND"]
    stack.wait_http(origin + "/", processes.process(name), log)
    return origin


def _set_latency(idp: Any, ms: int) -> None:
    response = idp.http_session().post(
        f"{idp.origin}/__test__/latency", json={"backchannel_ms": ms}, timeout=10
    )
    if response.status_code != 200:
        raise stack.BenchError(f"Org A's IdP did not take a latency of {ms} ms.")


def _a_attempt(
    session: requests.Session, idp: Any, app: App, email: str
) -> tuple[str, float]:
    """One sign-in attempt: (outcome, callback seconds)."""
    try:
        start = session.get(
            app.origin + app.start_path,
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT_S,
        )
        if start.status_code != 302:
            return f"start answered {start.status_code}", 0.0
        back = idp.login(session, urljoin(start.url, start.headers["Location"]), email)
        began = time.perf_counter()
        response = session.get(back, allow_redirects=False, timeout=REQUEST_TIMEOUT_S)
        seconds = time.perf_counter() - began
    except (requests.RequestException, AssertionError) as exc:
        return f"error: {type(exc).__name__}", 0.0
    finally:
        _forget_app_session(session)
    if response.status_code == 302:
        return "signed in", seconds
    if 400 <= response.status_code < 500:
        return ("failed at once" if seconds < FAST_S else "failed after waiting"), (
            seconds
        )
    return f"callback answered {response.status_code}", seconds


def _window(
    label: str,
    guard: bool,
    idp_a: Any,
    app: App,
    a_sessions: list[requests.Session],
    emails: list[str],
    b_sessions: list[requests.Session],
    hang: bool,
) -> IsolationWindow:
    from django.utils import timezone

    lock = threading.Lock()
    stop = threading.Event()
    a_outcomes: Counter[str] = Counter()
    a_callback_s: list[float] = []
    b_page_s: list[float] = []
    b_errors: Counter[str] = Counter()

    def org_a(session: requests.Session, email: str) -> None:
        while not stop.is_set():
            outcome, seconds = _a_attempt(session, idp_a, app, email)
            with lock:
                a_outcomes[outcome] += 1
                if seconds:
                    a_callback_s.append(seconds)
            stop.wait(A_PAUSE_S)

    def org_b(session: requests.Session) -> None:
        while not stop.is_set():
            began = time.perf_counter()
            try:
                response = session.get(
                    app.origin + B_PAGE,
                    allow_redirects=False,
                    timeout=REQUEST_TIMEOUT_S,
                )
                problem = (
                    ""
                    if response.status_code == 200 and B_MARKER in response.text
                    else f"HTTP {response.status_code}"
                )
            except requests.RequestException as exc:
                problem = type(exc).__name__
            seconds = time.perf_counter() - began
            with lock:
                if problem:
                    b_errors[problem] += 1
                else:
                    b_page_s.append(seconds)
            stop.wait(B_PAUSE_S)

    _set_latency(idp_a, HANG_MS if hang else 0)
    since = timezone.now()
    threads = [
        threading.Thread(target=org_a, args=pair, daemon=True)
        for pair in zip(a_sessions, emails, strict=True)
    ] + [threading.Thread(target=org_b, args=(s,), daemon=True) for s in b_sessions]
    try:
        for thread in threads:
            thread.start()
        time.sleep(WINDOW_S)
        stop.set()
        for thread in threads:
            # Bounded: an attempt under way ends within the app's deadlines.
            thread.join(timeout=JOIN_TIMEOUT_S)
    finally:
        stop.set()
        _set_latency(idp_a, 0)
    return IsolationWindow(
        idp=label,
        guard=guard,
        window_s=WINDOW_S,
        b_page_s=b_page_s,
        b_errors=sum(b_errors.values()),
        b_error_samples=[f"{n}x {what}" for what, n in b_errors.most_common(3)],
        a_outcomes=dict(a_outcomes),
        a_callback_s=a_callback_s,
        a_reasons=_failure_reasons(since),
    )


def _failure_reasons(since: Any) -> dict[str, int]:
    """Why org A's sign-ins failed since ``since``, from their sign-in events."""
    from connections.models import SignInEvent

    reasons: Counter[str] = Counter()
    details = SignInEvent.objects.filter(
        organization__login_path=A_LOGIN_PATH,
        outcome=SignInEvent.Outcome.FAILURE,
        created_at__gte=since,
    ).values_list("detail", flat=True)
    for detail in details:
        if "sign-in through it is paused" in detail:
            reasons["circuit open"] += 1
        elif "requests to it from this server are still waiting" in detail:
            reasons["limit reached"] += 1
        elif "did not answer within" in detail or "did not finish" in detail:
            reasons["timed out"] += 1
        else:
            reasons["other"] += 1
    return dict(reasons)
