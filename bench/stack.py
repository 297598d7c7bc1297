"""The processes and stores a benchmark run uses, all on loopback.

Fresh PostgreSQL databases and empty Redis databases at the start, the IdP
(tests/idp/server.mjs through the test fixture's starter), both apps under
gunicorn and a Celery worker; everything this run started is stopped, and its
databases dropped, at the end.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "bench"
# The stock app's settings name the same server (bench/stock/settings.py).
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
OURS_DB = "sso_bench"
STOCK_DB = "bench_stock"
CACHE_REDIS_DB = 14
BROKER_REDIS_DB = 15
# The stock app deployed as ours is keeps its sessions here.
STOCK_CACHE_REDIS_DB = 13
REDIS_DBS = (STOCK_CACHE_REDIS_DB, CACHE_REDIS_DB, BROKER_REDIS_DB)
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says what to fix."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def redis_url(db: int) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


def _admin_connection() -> psycopg.Connection:
    try:
        return psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
        )
    except psycopg.OperationalError as exc:
        raise BenchError(
            f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} as {PG_USER}: {exc}"
        ) from None


def recreate_database(name: str) -> None:
    """Drop ``name`` if a previous run left it, then create it empty."""
    with _admin_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with _admin_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


def flush_redis(db: int) -> None:
    """Empty one Redis database (only the benchmark's own numbers are passed)."""
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()
    except redis.RedisError as exc:
        raise BenchError(
            f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}: {exc}"
        ) from None


def server_versions() -> dict[str, str]:
    """PostgreSQL's and Redis's versions, as the servers report them."""
    with _admin_connection() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    info = redis.Redis(host=REDIS_HOST, port=REDIS_PORT).info("server")
    return {
        "PostgreSQL": str(row[0]).split()[0] if row else "?",
        "Redis": str(info.get("redis_version", "?")),
    }


def app_env(*, site_url: str, queue: str) -> dict[str, str]:
    """Our app's environment: production settings against the bench stores."""
    from cryptography.fernet import Fernet

    env = {
        key: value
        for key, value in os.environ.items()
        # Requests honours proxies even for loopback; the run never needs one.
        if key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="False",
        SECRET_KEY="bench-" + secrets.token_urlsafe(40),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        SITE_URL=site_url,
        DATABASE_URL=database_url(OURS_DB),
        # CONN_MAX_AGE and SESSION_ENGINE: the production defaults (settings).
        CACHE_URL=redis_url(CACHE_REDIS_DB),
        CELERY_BROKER_URL=redis_url(BROKER_REDIS_DB),
        CELERY_QUEUE=queue,
        SSO_ALLOW_INSECURE_ISSUERS="True",
        SSO_ALLOW_PRIVATE_NETWORKS="True",
        EMAIL_URL="consolemail://",
        LOG_LEVEL="WARNING",
    )
    return env


def stock_env(
    *, endpoints: dict[str, str], client_id: str, secret: str, deployed_as_ours: bool
) -> dict:
    """The stock app's environment: its settings read the IdP and client here.

    ``deployed_as_ours``: persistent connections and Redis sessions, as ours.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        and not key.startswith("OIDC_")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="bench.stock.settings",
        STOCK_DB_NAME=STOCK_DB,
        OIDC_RP_CLIENT_ID=client_id,
        OIDC_RP_CLIENT_SECRET=secret,
        OIDC_OP_AUTHORIZATION_ENDPOINT=endpoints["authorization_endpoint"],
        OIDC_OP_TOKEN_ENDPOINT=endpoints["token_endpoint"],
        OIDC_OP_USER_ENDPOINT=endpoints["userinfo_endpoint"],
        OIDC_OP_JWKS_ENDPOINT=endpoints["jwks_uri"],
    )
    if deployed_as_ours:
        env["STOCK_CACHE_URL"] = redis_url(STOCK_CACHE_REDIS_DB)
    return env


@dataclass
class Processes:
    """Every child process of the run, stopped in reverse order by ``stop_all``."""

    logs: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Path:
        """Start ``argv`` from the repository root; output goes to a log file."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 (argv is ours)
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.started.append((name, process))
        return log

    def process(self, name: str) -> subprocess.Popen[bytes]:
        return next(proc for label, proc in self.started if label == name)

    def stop(self, name: str) -> None:
        for label, process in list(self.started):
            if label == name:
                _terminate(process)
                self.started.remove((label, process))

    def stop_all(self) -> None:
        for _label, process in reversed(self.started):
            _terminate(process)
        self.started.clear()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until ``url`` answers (any status below 500) or the process exits."""
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{url}: the server exited.\n{log_tail(log)}")
        try:
            if session.get(url, timeout=2, allow_redirects=False).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise BenchError(f"{url} did not answer within {START_TIMEOUT_S:.0f} s.")


def start_gunicorn(
    processes: Processes, name: str, wsgi: str, port: int, env: dict[str, str]
) -> str:
    """Serve ``wsgi`` with the benchmark's workers x threads; returns its origin."""
    log = processes.start(
        name,
        [
            sys.executable,
            "-m",
            "gunicorn",
            wsgi,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(GUNICORN_WORKERS),
            "--threads",
            str(GUNICORN_THREADS),
            "--timeout",
            "60",
            # gunicorn.conf.py (read from the working directory) recycles
            # workers; a recycled worker would take its CPU time with it.
            "--max-requests",
            "0",
            # The default control socket is one path per user: two servers (or
            # another run's) would take it from each other.
            "--no-control-socket",
        ],
        env,
    )
    origin = f"http://127.0.0.1:{port}"
    # Any page proves the workers import the app; the login page is in both.
    wait_http(origin + "/", processes.process(name), log)
    return origin


def start_worker(processes: Processes, env: dict[str, str], queue: str) -> str:
    """A Celery worker of 4 processes on the run's own queue; returns its name."""
    node = f"{queue}@bench"
    processes.start(
        "worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "-n",
            node,
            "--concurrency=4",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
    )
    return node


def new_queue_name() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------- CPU accounting

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may hold spaces.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far (0.0 if it is gone)."""
    try:
        fields = _stat_fields(pid)
    except (OSError, ValueError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (e.g. gunicorn's workers)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry.name))[1]) == pid:
                children.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return children


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (from /proc/stat)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    ticks = [int(value) for value in first[:8]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / _CLOCK_TICKS


def database_activity(name: str) -> tuple[float, int]:
    """(seconds spent running statements, sessions opened) in database ``name``,
    from pg_stat_database (PostgreSQL 14+); backends report them as they end."""
    with _admin_connection() as conn:
        row = conn.execute(
            "SELECT active_time, sessions FROM pg_stat_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is None or row[0] is None:
        return 0.0, 0
    return float(row[0]) / 1000, int(row[1])
