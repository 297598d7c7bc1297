"""``make bench``: sign-in speed and scale, side by side with stock
mozilla-django-oidc, on loopback against the real test IdP.

Prints the tables and writes docs/performance.md. Every run starts from fresh
databases (sso_bench, bench_stock) and empty Redis databases 14 (cache) and 15
(broker), and drops and empties them at the end. The load can be changed with
BENCH_CLIENTS, BENCH_WINDOW_S, BENCH_ROUNDS, BENCH_LATENCY_WINDOW_S,
BENCH_LATENCY_ROUNDS and the BENCH_ISOLATION_* and BENCH_SQLITE_* knobs (see
bench/README.md).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from . import stack
from .load import App, LoadResult, first_sign_ins, run_load, sign_in
from .report import STOCK_DEPLOYED_AS_OURS, LatencyPoint, Report, write_report

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
# Many short alternating rounds: on a shared machine the speed drifts over tens
# of seconds, and short rounds spread a drift over every app alike.
WINDOW_S = float(os.environ.get("BENCH_WINDOW_S", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "8"))
# The IdP's server-to-server endpoints answer this late, as a cloud IdP in
# another region does; shorter rounds than above keep the run in its budget.
LATENCIES_MS = (0, 20, 80)
LATENCY_WINDOW_S = float(os.environ.get("BENCH_LATENCY_WINDOW_S", "3"))
LATENCY_ROUNDS = int(os.environ.get("BENCH_LATENCY_ROUNDS", "4"))
LATENCY_PROBES = 5
SCALE_ORGS = 10_000
DOMAINS_PER_ORG = 10
LIVE_CONNECTIONS = 1_000
CONSOLE_ROWS = (10, 5_000)
SIGNIN_GROUPS = (10, 500)
CHECKS_TIMEOUT_S = 240.0
BUDGET_S = 600.0
DOMAIN = "bench.test"
LOGIN_PATH = "bench"
OUT = stack.ROOT / "docs" / "performance.md"
# Stock mozilla-django-oidc deployed as ours is (see bench/stock/settings.py).
TUNED, TUNED_PROCESS = STOCK_DEPLOYED_AS_OURS, "stock-deployed"


@dataclass
class Phases:
    """Wall-clock seconds of each phase, for the report."""

    seconds: dict[str, float] = field(default_factory=dict)
    _name: str = ""
    _began: float = 0.0

    def start(self, name: str) -> None:
        self._name = name
        self._began = time.perf_counter()
        print(f"-- {name}", flush=True)

    def done(self) -> None:
        self.seconds[self._name] = time.perf_counter() - self._began


@dataclass
class Bench:
    """What the phases share: the IdP, the two apps' settings, the org."""

    processes: stack.Processes
    report: Report
    phases: Phases = field(default_factory=Phases)
    idp: Any = None
    idp_process: Any = None
    site: str = ""
    ours_port: int = 0
    stock_port: int = 0
    tuned_port: int = 0
    queue: str = ""
    env: dict[str, str] = field(default_factory=dict)
    stock_env: dict[str, str] = field(default_factory=dict)
    tuned_env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    org: Any = None
    scale: Any = None
    # The apps under gunicorn, their signed-in browsers and the people in them.
    apps: dict[str, App] = field(default_factory=dict)
    sessions: dict[str, list[requests.Session]] = field(default_factory=dict)
    emails: list[str] = field(default_factory=list)
    probes: dict[str, Any] = field(default_factory=dict)


def _start_idp(workdir: Path) -> tuple[Any, Any]:
    import pytest

    from tests.fixtures import idp as idp_fixture

    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return idp_fixture.start_idp(workdir)
    except pytest.fail.Exception as exc:
        raise stack.BenchError(str(exc)) from None


def _stop_idp(process: Any) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=stack.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
    if process.stdin:
        process.stdin.close()


# ------------------------------------------------------------------ phases


def prepare(bench: Bench) -> None:
    """Fresh stores, the IdP and its clients, both databases migrated."""
    for db in stack.REDIS_DBS:
        stack.flush_redis(db)
    stack.recreate_database(stack.OURS_DB)
    stack.recreate_database(stack.STOCK_DB)
    bench.idp, bench.idp_process = _start_idp(stack.ARTIFACTS / "idp")
    bench.ours_port, bench.stock_port = stack.free_port(), stack.free_port()
    bench.tuned_port = stack.free_port()
    bench.site = f"http://127.0.0.1:{bench.ours_port}"
    bench.queue = stack.new_queue_name()
    bench.env = stack.app_env(site_url=bench.site, queue=bench.queue)
    os.environ.update(bench.env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    idp = bench.idp
    bench.secrets = {
        name: secrets.token_urlsafe(24) for name in ("ours", "stock", "checks")
    }
    idp.add_client("bench-ours", bench.secrets["ours"], [bench.site + "/sso/callback/"])
    # The stock backend authenticates with client_secret_post by default.
    idp.add_client(
        "bench-stock",
        bench.secrets["stock"],
        [
            f"http://127.0.0.1:{port}/oidc/callback/"
            for port in (bench.stock_port, bench.tuned_port)
        ],
        token_endpoint_auth_method="client_secret_post",
    )
    idp.add_client(
        "bench-checks", bench.secrets["checks"], [bench.site + "/sso/callback/"]
    )
    bench.stock_env, bench.tuned_env = (
        stack.stock_env(
            endpoints=idp.metadata,
            client_id="bench-stock",
            secret=bench.secrets["stock"],
            deployed_as_ours=tuned,
        )
        for tuned in (False, True)
    )
    log = bench.processes.start(
        "stock-migrate",
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        bench.stock_env,
    )
    if bench.processes.process("stock-migrate").wait(timeout=120) != 0:
        raise stack.BenchError("stock migrate failed:\n" + stack.log_tail(log))
    bench.report.versions = stack.server_versions()


def signin_queries(bench: Bench, tag: str) -> None:
    """Item 3 at the current number of organizations."""
    from . import scale

    for groups in SIGNIN_GROUPS:
        bench.report.signin_queries.append(
            scale.signin_queries(
                bench.idp,
                site_url=bench.site,
                org=bench.org,
                domain=DOMAIN,
                groups=groups,
                tag=tag,
            )
        )


def signin_org(bench: Bench) -> None:
    """The organization people sign in to, then item 3 with 1 organization."""
    from . import scale

    bench.org = scale.seed_signin_org(
        login_path=LOGIN_PATH,
        domain=DOMAIN,
        issuer=bench.idp.issuer,
        client_id="bench-ours",
        secret=bench.secrets["ours"],
    )
    signin_queries(bench, "a")
    bench.report.callback_breakdown = scale.callback_breakdown(
        bench.idp, site_url=bench.site, org=bench.org, domain=DOMAIN
    )
    # What the load signs in with: a handful of mappings, as a real org has.
    scale.set_mappings(bench.org, ["Engineering", *(f"team-{i}" for i in range(9))])


def _cpu_probe(app_pid: int, idp_pid: int, database: str):
    """Cumulative CPU seconds of the app's workers, the IdP, this process (the
    load generator) and the whole machine (all cores, anyone's), and the app
    database's statement time and sessions."""

    def probe() -> dict[str, float]:
        active_s, sessions = stack.database_activity(database)
        return {
            "app": sum(stack.cpu_seconds(pid) for pid in stack.child_pids(app_pid)),
            "IdP": stack.cpu_seconds(idp_pid),
            "load generator": time.process_time(),
            "machine": stack.machine_busy_seconds(),
            "db active": active_s,
            "db sessions": float(sessions),
        }

    return probe


def _counted(idp: Any, action) -> dict[str, int]:
    idp.reset_counts()
    action()
    return idp.request_counts()


def _merge(results: list[LoadResult]) -> LoadResult:
    merged = LoadResult(
        app=results[0].app,
        clients=results[0].clients,
        window_s=sum(r.window_s for r in results),
        elapsed_s=sum(r.elapsed_s for r in results),
        signins=sum(r.signins for r in results),
        callback_s=[x for r in results for x in r.callback_s],
        signin_s=[x for r in results for x in r.signin_s],
        errors=sum(r.errors for r in results),
        error_samples=[s for r in results for s in r.error_samples][:3],
    )
    for result in results:
        for path, count in result.idp_counts.items():
            merged.idp_counts[path] = merged.idp_counts.get(path, 0) + count
        for name, seconds in result.cpu_s.items():
            merged.cpu_s[name] = merged.cpu_s.get(name, 0.0) + seconds
    return merged


def signins_under_gunicorn(bench: Bench) -> None:
    """Items 2 and 1: the apps under gunicorn, the same clients and IdP.

    Three apps: ours, stock as its documentation configures it (the target's
    comparison), and stock deployed as ours is (persistent connections, Redis
    sessions), which shows what the code alone is worth.
    """
    from django.utils import timezone

    from connections.models import SignInEvent

    idp, processes, report = bench.idp, bench.processes, bench.report
    ours = App(
        "ours",
        stack.start_gunicorn(
            processes, "ours", "config.wsgi", bench.ours_port, bench.env
        ),
        f"/sso/login/{LOGIN_PATH}/?next=/accounts/me/",
    )
    stock = App(
        "stock",
        stack.start_gunicorn(
            processes, "stock", "bench.stock.wsgi", bench.stock_port, bench.stock_env
        ),
        "/oidc/authenticate/",
    )
    tuned = App(
        TUNED,
        stack.start_gunicorn(
            processes,
            TUNED_PROCESS,
            "bench.stock.wsgi",
            bench.tuned_port,
            bench.tuned_env,
        ),
        "/oidc/authenticate/",
    )
    apps = (ours, stock, tuned)
    emails = [f"load-{i:02d}@{DOMAIN}" for i in range(CLIENTS)]
    for email in emails:
        idp.add_account(email.split("@")[0], email, groups=["Engineering"])
    sessions = {app.name: first_sign_ins(idp, app, emails) for app in apps}
    stack.flush_redis(stack.CACHE_REDIS_DB)
    report.idp_requests["ours, cold cache"] = _counted(
        idp, lambda: sign_in(sessions["ours"][0], idp, ours, emails[0])
    )
    report.idp_requests["ours, warm"] = _counted(
        idp, lambda: sign_in(sessions["ours"][0], idp, ours, emails[0])
    )
    report.idp_requests["stock"] = _counted(
        idp, lambda: sign_in(sessions["stock"][0], idp, stock, emails[0])
    )
    idp_pid = bench.idp_process.pid
    databases = {"ours": stack.OURS_DB, "stock": stack.STOCK_DB, TUNED: stack.STOCK_DB}
    labels = {"ours": "ours", "stock": "stock", TUNED: TUNED_PROCESS}
    probes = {
        app.name: _cpu_probe(
            processes.process(labels[app.name]).pid, idp_pid, databases[app.name]
        )
        for app in apps
    }
    loads: dict[str, list[LoadResult]] = {app.name: [] for app in apps}
    load_began = timezone.now()
    for _round in range(ROUNDS):
        # Alternating short rounds, so a change in the machine's other load
        # hits every app alike.
        for app in apps:
            loads[app.name].append(
                run_load(
                    idp, app, sessions[app.name], emails, WINDOW_S, probes[app.name]
                )
            )
    report.loads = {name: _merge(results) for name, results in loads.items()}
    report.ours_failures = list(
        SignInEvent.objects.filter(
            outcome=SignInEvent.Outcome.FAILURE, created_at__gte=load_began
        ).values_list("step", "detail")[:5]
    )
    # Ours and stock deployed as ours stay up for the IdP latency phase.
    processes.stop("stock")
    bench.apps = {"ours": ours, TUNED: tuned}
    bench.sessions = {name: sessions[name] for name in bench.apps}
    bench.emails = emails
    bench.probes = {name: probes[name] for name in bench.apps}
    report.warm_queries = warm_signin_queries(bench, emails[0])


def _set_latency(idp: Any, ms: int) -> None:
    """Make the IdP hold its server-to-server answers ``ms`` (tests/idp)."""
    session = idp.http_session()
    response = session.post(
        f"{idp.origin}/__test__/latency", json={"backchannel_ms": ms}, timeout=10
    )
    if response.status_code != 200 or response.json() != {"backchannel_ms": ms}:
        raise stack.BenchError(
            f"The IdP did not take a latency of {ms} ms: "
            f"HTTP {response.status_code} {response.text[:200]}"
        )


def _backchannel_answer_ms(idp: Any) -> float:
    """How long the IdP takes to answer a JWKS GET from here (median)."""
    session = idp.http_session()
    samples = []
    for _ in range(LATENCY_PROBES):
        began = time.perf_counter()
        session.get(idp.metadata["jwks_uri"], timeout=10).raise_for_status()
        samples.append((time.perf_counter() - began) * 1000)
    return sorted(samples)[len(samples) // 2]


def idp_latency(bench: Bench) -> None:
    """Ours and stock deployed as ours (the same settings), with the IdP's
    back-channel answering 0, 20 and 80 ms late: what one round trip per
    sign-in instead of three is worth to the person signing in."""
    idp, apps, sessions = bench.idp, bench.apps, bench.sessions
    points = {ms: LatencyPoint(latency_ms=ms) for ms in LATENCIES_MS}
    loads: dict[tuple[int, str], list[LoadResult]] = {
        (ms, name): [] for ms in LATENCIES_MS for name in apps
    }
    email = bench.emails[0]
    try:
        for ms, point in points.items():
            _set_latency(idp, ms)
            point.answer_ms = _backchannel_answer_ms(idp)
            if point.answer_ms < ms:
                raise stack.BenchError(
                    f"The IdP answered in {point.answer_ms:.1f} ms with a latency "
                    f"of {ms} ms set: the delay is not in effect."
                )
            for name, app in apps.items():
                sign_in(sessions[name][0], idp, app, email)  # warm at this latency
                point.warm_counts[name] = _counted(
                    idp,
                    lambda app=app, name=name: sign_in(
                        sessions[name][0], idp, app, email
                    ),
                )
        for _round in range(LATENCY_ROUNDS):
            # Alternating as above, over the latencies as well as the apps.
            for ms in LATENCIES_MS:
                _set_latency(idp, ms)
                for name, app in apps.items():
                    loads[ms, name].append(
                        run_load(
                            idp,
                            app,
                            sessions[name],
                            bench.emails,
                            LATENCY_WINDOW_S,
                            bench.probes[name],
                        )
                    )
    except BaseException:
        # The error that stopped the rounds is the one to report.
        with contextlib.suppress(stack.BenchError, requests.RequestException):
            _set_latency(idp, 0)
        raise
    _set_latency(idp, 0)  # the phases after this one talk to a nearby IdP
    for (ms, name), results in loads.items():
        points[ms].loads[name] = _merge(results)
    bench.report.latency = list(points.values())
    for name in ("ours", TUNED_PROCESS):
        bench.processes.stop(name)


def tenant_isolation(bench: Bench) -> None:
    """Section 8: org B's console while org A's own IdP answers or hangs."""
    from . import isolation

    idp_a, process = _start_idp(stack.ARTIFACTS / "idp-a")
    try:
        bench.report.isolation = isolation.measure(bench.processes, idp_a, bench.env)
    finally:
        _stop_idp(process)


def sqlite_signins(bench: Bench) -> None:
    """Section 9: concurrent sign-ins on the embedded SQLite, as `make run`
    serves it (``python -m bench.sqlite`` runs this phase alone)."""
    from . import sqlite

    bench.report.sqlite = sqlite.measure(bench.processes, bench.idp)


def warm_signin_queries(bench: Bench, email: str) -> dict[str, Any]:
    """Queries of one warm sign-in (start, callback, landing) of each app,
    counted the same way: Django's test client in a process with its settings."""
    import json

    from .counted import counted_sign_in

    browser = bench.idp.http_session()
    for _ in range(2):  # the first one signs in at the IdP's form
        ours = counted_sign_in(
            bench.idp,
            browser,
            host=f"127.0.0.1:{bench.ours_port}",
            start_url=f"/sso/login/{LOGIN_PATH}/?next=/accounts/me/",
            email=email,
        )
    log = bench.processes.start(
        "stock-counted",
        [
            sys.executable,
            "-m",
            "bench.counted",
            bench.idp.origin,
            f"127.0.0.1:{bench.stock_port}",
            "/oidc/authenticate/",
            email,
        ],
        bench.stock_env,
    )
    if bench.processes.process("stock-counted").wait(timeout=60) != 0:
        raise stack.BenchError(
            "counting stock's queries failed:\n" + stack.log_tail(log)
        )
    stock = json.loads(log.read_text().strip().splitlines()[-1])["warm"]
    return {"ours": ours, "stock": stock}


def scale_data(bench: Bench) -> None:
    from . import scale

    bench.scale = bench.report.scale = scale.seed_scale(
        organizations=SCALE_ORGS,
        domains_per_org=DOMAINS_PER_ORG,
        live_connections=LIVE_CONNECTIONS,
        issuer=bench.idp.issuer,
        client_id="bench-checks",
        secret=bench.secrets["checks"],
    )


def routing(bench: Bench) -> None:
    from . import scale

    bench.report.routing = scale.measure_routing(
        site_url=bench.site,
        scale=bench.scale,
        verified_domains=bench.scale.verified_domains,
    )


def console_pages(bench: Bench) -> None:
    from . import scale

    for rows in CONSOLE_ROWS:
        org, owner = scale.seed_console_org(f"console-{rows}", rows)
        bench.report.console.extend(scale.measure_console(bench.site, org, owner, rows))


def scim_sync(bench: Bench) -> None:
    from . import scim

    bench.report.scim = scim.measure()


def health_checks(bench: Bench) -> None:
    """Item 6: the hourly health pass, sent through Redis to a real worker."""
    from django.utils import timezone

    from config.celery import app as celery_app

    from . import scale

    node = stack.start_worker(bench.processes, bench.env, bench.queue)
    deadline = time.monotonic() + stack.START_TIMEOUT_S
    while not celery_app.control.ping(destination=[node], timeout=1.0):
        exited = bench.processes.process("worker").poll() is not None
        if exited or time.monotonic() > deadline:
            raise stack.BenchError(
                "The Celery worker did not start:\n"
                + stack.log_tail(stack.ARTIFACTS / "logs" / "worker.log")
            )
    bench.idp.reset_counts()
    since = timezone.now()
    celery_app.send_task("connections.tasks.connections_health_check_all")
    expected = bench.scale.live_connections
    deadline = time.monotonic() + CHECKS_TIMEOUT_S
    while time.monotonic() < deadline:
        created, finished = scale.checks_progress(since)
        if created >= expected and finished == created:
            break
        time.sleep(0.25)
    result = scale.checks_result(since, expected)
    result.idp_counts.update(bench.idp.request_counts())
    bench.report.checks = result


# ------------------------------------------------------------------ main


def _cleanup(bench: Bench) -> None:
    """Stop what the run started; drop its databases; empty its Redis dbs."""
    bench.processes.stop_all()
    if bench.idp_process is not None:
        _stop_idp(bench.idp_process)
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()
    for name in (stack.OURS_DB, stack.STOCK_DB):
        try:
            stack.drop_database(name)
        except stack.BenchError as exc:
            print(f"Could not drop {name}: {exc}", file=sys.stderr)
    for db in stack.REDIS_DBS:
        try:
            stack.flush_redis(db)
        except stack.BenchError as exc:
            print(f"Could not empty Redis db {db}: {exc}", file=sys.stderr)


PHASES = (
    ("fresh databases, IdP, migrations", prepare),
    ("3. queries per sign-in, 1 organization", signin_org),
    ("1-2. sign-ins under gunicorn: ours and stock", signins_under_gunicorn),
    (
        f"7. IdP latency {', '.join(map(str, LATENCIES_MS))} ms: ours and stock "
        "deployed as ours",
        idp_latency,
    ),
    ("8. tenant isolation: org B's console while org A's IdP hangs", tenant_isolation),
    ("9. SQLite as `make run` serves it: concurrent sign-ins", sqlite_signins),
    ("scale data: 10,000 organizations, 100,000 domains", scale_data),
    ("3. queries per sign-in, 10,000 organizations", lambda b: signin_queries(b, "b")),
    ("5. email-first routing", routing),
    ("4. console pages", console_pages),
    ("10. directory sync: 1,000 users, look-ups at 100,000 members", scim_sync),
    ("6. health checks through Redis, worker of 4 processes", health_checks),
)


def main() -> int:
    began = time.perf_counter()
    report = Report(
        clients=CLIENTS,
        window_s=WINDOW_S,
        rounds=ROUNDS,
        latency_window_s=LATENCY_WINDOW_S,
        latency_rounds=LATENCY_ROUNDS,
        budget_s=BUDGET_S,
        checks_timeout_s=CHECKS_TIMEOUT_S,
        # Other work on the machine slows every figure down; the report says
        # how busy it was.
        loadavg_start=os.getloadavg(),
    )
    bench = Bench(processes=stack.Processes(stack.ARTIFACTS / "logs"), report=report)
    try:
        for name, phase in PHASES:
            bench.phases.start(name)
            phase(bench)
            bench.phases.done()
    except (stack.BenchError, AssertionError, requests.RequestException) as exc:
        print(f"\nThe benchmark stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        _cleanup(bench)
    report.phases = bench.phases.seconds
    report.total_s = time.perf_counter() - began
    text = write_report(report, OUT)
    print()
    print(text)
    print(f"Written to {OUT.relative_to(stack.ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
