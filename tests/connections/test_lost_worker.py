"""A worker killed in the middle of a check (issue 16, item 7), for real.

A Celery worker of this test's own (so killing it spares the session's) takes
a check of an IdP that accepts connections and never answers, and is killed
with SIGKILL while the check runs. The check must read as failed once its
deadline passes, with no sweep, and 'Test' must start a new one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from kombu import Queue

from connections.models import ConnectionCheck
from connections.services.checks import check_deadline, connection_check_start
from tests.connections.conftest import make_connection
from tests.fixtures.worker import ROOT, _database_url, celery_worker_argv

pytestmark = [pytest.mark.worker, pytest.mark.timeout(90)]

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def silent_idp():
    """An issuer that accepts every connection and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def doomed_worker(transactional_db):
    """A worker on a queue of its own, in its own process group, to kill."""
    from config.celery import app

    queue = f"doomed-{uuid.uuid4().hex[:12]}"
    node = f"{queue}@{socket.gethostname()}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": _database_url(),
        "CELERY_QUEUE": queue,
        # The silent IdP holds the check in its first fetch for a minute.
        "OUTBOUND_READ_TIMEOUT": "60",
    }
    log_path = ROOT / "artifacts" / "celery-doomed-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(  # noqa: S603
            celery_worker_argv(queue=queue, node=node, concurrency=1),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        session_queue = app.conf.task_default_queue
        try:
            deadline = time.monotonic() + 30
            while not app.control.ping(timeout=0.5, destination=[node]):
                assert proc.poll() is None, log_path.read_text()[-2000:]
                assert time.monotonic() < deadline, "the worker did not answer"
            app.conf.task_default_queue = queue
            app.conf.task_always_eager = False
            yield proc
        finally:
            app.conf.task_default_queue = session_queue
            app.conf.task_always_eager = True
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            # Nobody consumes that queue any more: drop what 'Test' queued.
            with app.connection_for_write() as conn:
                Queue(queue).bind(conn.default_channel).purge()


def _wait_for(check: ConnectionCheck, status: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check.refresh_from_db()
        if check.status == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"check {check.pk} is {check.status}, not {status}")


def test_a_check_whose_worker_was_killed_is_failed_at_its_deadline(
    doomed_worker, silent_idp, client, settings
):
    from rolemapping.models import Membership
    from tests.conftest import client_for
    from tests.factories import make_org

    org = make_org("lost-worker")
    membership = Membership.objects.select_related("organization", "role", "user").get(
        organization=org, user=org.owner
    )
    connection = make_connection(membership, silent_idp)
    check = connection_check_start(actor_membership=membership, connection=connection)
    _wait_for(check, "running", seconds=20)

    os.killpg(doomed_worker.pid, signal.SIGKILL)  # the worker and its child
    doomed_worker.wait(timeout=10)

    # Here the deadline is 3 s after the start instead of 75: the same rule.
    settings.CONNECTION_CHECK_TIMEOUT_SECONDS = 3
    deadline = check_deadline(check)
    assert deadline is not None
    assert deadline - check.started_at == timedelta(seconds=3)
    owner = client_for(client, membership)
    url = reverse("check_detail", args=[org.login_path, connection.pk, check.pk])
    assert owner.get(url, **JSON).json()["status"] == "running"
    time.sleep(3.2)

    data = owner.get(url, **JSON).json()

    assert data["status"] == "failed"
    failed = [step for step in data["steps"] if step["status"] == "failed"]
    assert len(failed) == 1
    assert "did not finish within 3 seconds" in failed[0]["detail"]
    page = owner.get(url).content.decode()
    assert "Test the current draft again" in page
    response = owner.post(
        reverse("connection_test", args=[org.login_path, connection.pk]), **JSON
    )
    assert response.status_code == 202
    assert response.json()["id"] != check.pk
