"""A frozen broker or cache answers within seconds (issue 16, item 3), and the
pages that queue work say what happened when the broker is down or frozen
(items 2 and 9).

A frozen server accepts connections and never answers: the worst case, since
nothing tells the client to give up. Each probe runs in a subprocess with the
production settings pointing at one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.environment import env_without_services

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def frozen_port() -> Iterator[int]:
    """A TCP server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


def _run(env_overrides: dict[str, str], code: str) -> tuple[float, str]:
    env = env_without_services(
        DJANGO_SETTINGS_MODULE="config.settings", DEBUG="True", **env_overrides
    )
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return time.monotonic() - began, result.stdout + result.stderr


@pytest.mark.timeout(90)
def test_publishing_to_a_frozen_broker_fails_within_seconds(frozen_port):
    code = (
        "import django; django.setup()\n"
        "from config.celery import app\n"
        "try:\n"
        "    app.send_task('config.worker_identify')\n"
        "    print('published')\n"
        "except Exception as exc:\n"
        "    print('refused', type(exc).__name__)\n"
    )
    seconds, output = _run(
        {"CELERY_BROKER_URL": f"redis://127.0.0.1:{frozen_port}/0"}, code
    )
    assert "refused" in output, output[-2000:]
    assert seconds < 15, (seconds, output[-2000:])


@pytest.mark.timeout(90)
def test_a_frozen_cache_fails_within_seconds(frozen_port):
    code = (
        "import django; django.setup()\n"
        "from django.core.cache import cache\n"
        "try:\n"
        "    cache.get('x')\n"
        "    print('answered')\n"
        "except Exception as exc:\n"
        "    print('refused', type(exc).__name__)\n"
    )
    seconds, output = _run({"CACHE_URL": f"redis://127.0.0.1:{frozen_port}/0"}, code)
    assert "refused" in output, output[-2000:]
    assert seconds < 10, (seconds, output[-2000:])


# ---------------------------------------------------------------------------
# The pages that queue work, against a broker that is down or frozen (issue
# 16, items 2, 3 and 9): an answer within seconds that says what happened,
# nothing lost, and the emails sent once the broker is back.


def _outage(broker_url: str) -> dict:
    env = env_without_services(
        # The test settings, not eager: tasks go through the real Celery client.
        DJANGO_SETTINGS_MODULE="tests.worker_settings",
        DATABASE_URL="sqlite://:memory:",
        CELERY_BROKER_URL=broker_url,
    )
    result = subprocess.run(
        [sys.executable, "-m", "tests.outage_pages"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_said_what_happened(outcome: dict) -> None:
    pages = outcome["pages"]
    not_queued = (
        "could not be queued: the task queue (broker) is not reachable. "
        "Try again when it is back."
    )
    assert pages["invite"]["status"] == 200
    assert pages["invite"]["said"] == [
        "Invited 3 people; the emails are queued and will be sent when the mail "
        "queue is back."
    ]
    assert pages["check"]["status"] == 200
    assert any(not_queued in said for said in pages["check"]["said"])
    assert pages["check_json"]["status"] == 503
    assert pages["check_json"]["json"]["status"] == "failed"
    assert pages["check_json"]["json"]["code"] == "task_queue_unreachable"
    assert pages["domain"]["status"] == 200
    assert any(not_queued in said for said in pages["domain"]["said"])
    assert pages["reset"]["status"] == 200 and pages["reset"]["will_be_sent"]

    rows = outcome["rows"]
    # The invitations, their audit rows and their emails were all kept.
    assert rows["invitations"] == rows["invitation_audits"] == 3
    assert rows["outbox"] == [["invitation", "pending", 0]] * 3 + [
        ["password_reset", "pending", 0]
    ]
    # Never "queued": each check failed at once, saying why.
    assert [check[:2] for check in rows["checks"]] == [
        ["failed", "task_queue_unreachable"]
    ] * 2
    assert not_queued in rows["domain_detail"]

    # Nothing went out during the outage; everything did once it was over.
    assert outcome["sent_before_flush"] == 0
    assert outcome["flushed"] == 4
    assert outcome["sent"] == [
        "ann@acme.test",
        "bob@acme.test",
        "cy@acme.test",
        "owner-acme@example.test",
    ]
    assert {status for _kind, status in outcome["outbox_after"]} == {"sent"}


@pytest.mark.timeout(120)
def test_pages_say_what_happened_when_the_broker_refuses_connections():
    outcome = _outage(f"redis://127.0.0.1:{_closed_port()}/0")
    _assert_said_what_happened(outcome)
    assert all(page["seconds"] < 2 for page in outcome["pages"].values()), outcome


@pytest.mark.timeout(120)
def test_pages_say_what_happened_within_seconds_when_the_broker_is_frozen(
    frozen_port,
):
    outcome = _outage(f"redis://127.0.0.1:{frozen_port}/0")
    _assert_said_what_happened(outcome)
    seconds = {name: page["seconds"] for name, page in outcome["pages"].items()}
    # The first publish waits out the socket timeout (BROKER_TIMEOUT, 3 s) once
    # for the three emails; after that refusal the process stops trying for a
    # few seconds, so the next clicks answer at once.
    assert seconds["invite"] < 8, seconds
    assert all(value < 2 for name, value in seconds.items() if name != "invite")
