"""A frozen broker or cache answers within seconds (issue 16, item 3).

A frozen server accepts connections and never answers: the worst case, since
nothing tells the client to give up. Each probe runs in a subprocess with the
production settings pointing at one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL"}
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="True", **env_overrides)
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
