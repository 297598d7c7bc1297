"""Section 9: the embedded default, SQLite, under concurrent sign-ins (issue 16,
item 10).

``make run`` serves the app with ``manage.py runserver`` (threaded, a thread
per request, with the autoreloader) from a ``.env`` of ``DEBUG=True`` and
``SITE_URL``: SQLite, the cache in the process's memory, sessions in the
database, tasks run in the request (no broker). This phase runs the same
command against a fresh SQLite file, after ``migrate`` as ``make run`` runs
it, and CLIENTS browsers sign in again and again for WINDOW_S seconds, (a) all
the same person, (b) each their own person. Then the same again with
Django's own SQLite options (bench/sqlite_defaults.py), which shows what ours
(config/settings.py) are worth; only ours hold the target.

Only the addresses differ from ``make run``: the site's port, the database
file, and the two switches the test IdP needs (an http issuer on loopback).
The cache and the broker are set to their embedded defaults explicitly, so
neither the bench's own environment nor a developer's ``.env`` changes them;
the report prints the settings as the app read them.

``python -m bench.sqlite`` runs this phase alone (its own test IdP; neither
PostgreSQL nor Redis is needed) and prints its section and target.
``python -m bench.sqlite seed ISSUER`` is the step run with the app's
environment: ``migrate``, then the organization people sign in to.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import stack
from .load import App, LoadResult, first_sign_ins, run_load
from .report import SQLiteRun

CLIENTS = int(os.environ.get("BENCH_SQLITE_CLIENTS", "8"))
WINDOW_S = float(os.environ.get("BENCH_SQLITE_WINDOW_S", "4"))
LOGIN_PATH = "sqlite"
DOMAIN = "sqlite.test"
CLIENT_ID = "bench-sqlite"
SECRET_VARIABLE = "BENCH_SQLITE_CLIENT_SECRET"
SERVER = "runserver"
SEED_TIMEOUT_S = 120
# In runserver's log: an answer's status (`"GET /... HTTP/1.1" 500 1234`), and
# the error a write that found the database locked raises.
SERVER_5XX = re.compile(r'" 5\d\d \d+$', re.MULTILINE)
LOCKED = "database is locked"
LOG_SETTLE_S = 0.2
# What the bench's PostgreSQL app (stack.app_env) or the caller's shell may
# have set that `make run`'s .env does not: cleared from the app's environment.
NOT_MAKE_RUN = (
    "DJANGO_SETTINGS_MODULE",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "CELERY_QUEUE",
    "CELERY_RESULT_BACKEND",
    "CONN_MAX_AGE",
    "SESSION_ENGINE",
    "EMAIL_URL",
    "LOG_LEVEL",
    "SQLITE_BUSY_TIMEOUT",
)


# (label, name of its processes, settings module, holds the target): ours,
# then Django's own SQLite options on the same load, which shows what ours are
# worth.
CONFIGURATIONS = (
    ("ours", "sqlite-ours", "config.settings", True),
    ("Django's SQLite defaults", "sqlite-defaults", "bench.sqlite_defaults", False),
)


def app_env(
    *, site_url: str, database: Path, settings_module: str = "config.settings"
) -> dict[str, str]:
    """`make run`'s environment, on ``database`` and ``site_url``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        and key not in NOT_MAKE_RUN
    }
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        # `make run`'s .env.
        DEBUG="True",
        SITE_URL=site_url,
        DATABASE_URL=f"sqlite:///{database}",
        # The embedded defaults, spelled out (see the module's docstring).
        CACHE_URL="locmemcache://",
        CELERY_BROKER_URL="",
        # The test IdP is http on 127.0.0.1.
        SSO_ALLOW_INSECURE_ISSUERS="True",
        SSO_ALLOW_PRIVATE_NETWORKS="True",
    )
    return env


def measure(processes: stack.Processes, idp: Any) -> list[SQLiteRun]:
    """Each configuration: a fresh SQLite file, served as `make run` does,
    CLIENTS browsers signing in the same person, then different people."""
    ports = [stack.free_port() for _ in CONFIGURATIONS]
    secret = secrets.token_urlsafe(24)
    idp.add_client(
        CLIENT_ID,
        secret,
        [f"http://127.0.0.1:{port}/sso/callback/" for port in ports],
    )
    people = [f"sqlite-{i:02d}@{DOMAIN}" for i in range(CLIENTS)]
    for email in people:
        idp.add_account(email.split("@")[0], email, groups=["Engineering"])
    return [
        _measure_one(processes, idp, secret, people, port, *configuration)
        for port, configuration in zip(ports, CONFIGURATIONS, strict=True)
    ]


def _measure_one(
    processes: stack.Processes,
    idp: Any,
    secret: str,
    people: list[str],
    port: int,
    label: str,
    name: str,
    settings_module: str,
    target: bool,
) -> SQLiteRun:
    site = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as tmp:
        database = Path(tmp) / "bench.sqlite3"
        env = app_env(site_url=site, database=database, settings_module=settings_module)
        settings = _seed(processes, f"{name}-seed", env, idp.issuer, secret)
        log = processes.start(
            name,
            # `make run`'s command; stopping the autoreloader stops its server.
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
            env,
        )
        try:
            stack.wait_http(site + "/", processes.process(name), log)
            app = App("ours", site, f"/sso/login/{LOGIN_PATH}/?next=/accounts/me/")
            # Each browser signs in once through the IdP's form, before the
            # clock starts; the first one of each person provisions them.
            windows = {
                "same person": [people[0]] * CLIENTS,
                "different people": people,
            }
            browsers = {
                who: first_sign_ins(idp, app, emails) for who, emails in windows.items()
            }
            loads: dict[str, LoadResult] = {}
            server_5xx: dict[str, int] = {}
            locked: dict[str, bool] = {}
            for who, emails in windows.items():
                began = log.stat().st_size
                loads[who] = run_load(idp, app, browsers[who], emails, WINDOW_S)
                # run_load waited for every answer; runserver logs one just
                # after sending it.
                time.sleep(LOG_SETTLE_S)
                with log.open("rb") as out:
                    out.seek(began)
                    lines = out.read().decode(errors="replace")
                server_5xx[who] = len(SERVER_5XX.findall(lines))
                locked[who] = LOCKED in lines
        finally:
            processes.stop(name)
        with contextlib.closing(sqlite3.connect(database)) as conn:
            # The journal mode is kept in the file: this reads what the app's
            # connections set.
            journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    settings["journal mode (read from the file after the run)"] = journal
    return SQLiteRun(
        label=label,
        server=SERVER,
        settings=settings,
        loads=loads,
        server_5xx=server_5xx,
        locked=locked,
        target=target,
    )


def _seed(
    processes: stack.Processes,
    name: str,
    env: dict[str, str],
    issuer: str,
    secret: str,
) -> dict[str, str]:
    log = processes.start(
        name,
        [sys.executable, "-m", "bench.sqlite", "seed", issuer],
        {**env, SECRET_VARIABLE: secret},
    )
    if processes.process(name).wait(timeout=SEED_TIMEOUT_S) != 0:
        raise stack.BenchError(
            "seeding the SQLite database failed:\n" + stack.log_tail(log)
        )
    processes.stop(name)
    return json.loads(log.read_text().strip().splitlines()[-1])


def seed(issuer: str, secret: str) -> dict[str, str]:
    """In the app's environment: migrate, the organization, the settings read."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from .scale import seed_signin_org

    call_command("migrate", interactive=False, verbosity=0)
    seed_signin_org(
        login_path=LOGIN_PATH,
        domain=DOMAIN,
        issuer=issuer,
        client_id=CLIENT_ID,
        secret=secret,
    )
    database = connection.settings_dict
    options = database["OPTIONS"]
    return {
        "DEBUG": str(settings.DEBUG),
        "database": database["ENGINE"].rsplit(".", 1)[-1],
        # Unset, SQLite's and Python's sqlite3 defaults apply.
        "transaction_mode": str(options.get("transaction_mode", "DEFERRED")),
        "busy timeout s": str(options.get("timeout", 5)),
        "init_command": str(options.get("init_command", "(none)")),
        "CONN_MAX_AGE": str(database["CONN_MAX_AGE"]),
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "sessions": settings.SESSION_ENGINE.rsplit(".", 1)[-1],
        "tasks": "eager, in the request (no broker)"
        if settings.CELERY_TASK_ALWAYS_EAGER
        else "through a broker",
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["seed"]:
        print(json.dumps(seed(argv[1], os.environ[SECRET_VARIABLE])))
        return 0
    import requests

    from .report import sqlite_summary
    from .run import _start_idp, _stop_idp

    processes = stack.Processes(stack.ARTIFACTS / "logs")
    idp, idp_process = _start_idp(stack.ARTIFACTS / "idp-sqlite")
    try:
        runs = measure(processes, idp)
    except (stack.BenchError, AssertionError, requests.RequestException) as exc:
        print(f"The SQLite phase stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        processes.stop_all()
        _stop_idp(idp_process)
    print(sqlite_summary(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
