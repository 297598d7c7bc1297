"""A check whose worker was lost is failed at its deadline (issue 16, item 7).

Before, such a check stayed 'running' until the sweep ran (minutes later, or
never without beat); 'Test' handed back the same stuck check and no page
offered a re-run. Now whoever reads a check past its deadline fails it first:
a page, its JSON, 'Test', or the sweep.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connections import tasks
from connections.models import ConnectionCheck
from connections.services.checks import (
    CHECK_SOFT_TIME_LIMIT,
    CHECK_TIME_LIMIT,
    check_deadline,
    connection_check_start,
)
from organizations.models import AuditEvent
from tests.connections.conftest import make_connection, passed_check, steps_by_key

ISSUER = "https://acme.okta.example"
JSON = {"HTTP_ACCEPT": "application/json"}
# What the task may take (its hard time limit), and a little more for a
# result on its way to be recorded.
RUN_DEADLINE = timedelta(seconds=CHECK_TIME_LIMIT + 15)
LOST = "did not finish within 75 seconds: the worker running it stopped"


@pytest.fixture
def connection(owner_membership):
    return make_connection(owner_membership, ISSUER)


def _running(connection, *, started: timedelta, steps=()) -> ConnectionCheck:
    """A check a worker claimed ``started`` ago and has not recorded."""
    check = passed_check(connection, status="running")
    then = timezone.now() - started
    ConnectionCheck.objects.filter(pk=check.pk).update(
        created_at=then - timedelta(seconds=1), started_at=then, steps=list(steps)
    )
    check.refresh_from_db()
    return check


def _url(check: ConnectionCheck) -> str:
    return reverse("check_detail", args=["acme", check.connection_id, check.pk])


def test_the_deadline_is_the_task_s_hard_time_limit_and_a_little_more(connection):
    assert tasks.connection_check_run.time_limit == CHECK_TIME_LIMIT
    assert tasks.connection_check_run.soft_time_limit == CHECK_SOFT_TIME_LIMIT
    running = _running(connection, started=timedelta(seconds=10))
    assert running.started_at is not None
    assert check_deadline(running) == running.started_at + RUN_DEADLINE
    queued = passed_check(connection, status="queued")
    # Waiting for a worker may take longer: CONNECTION_CHECK_TIMEOUT_SECONDS.
    assert check_deadline(queued) == queued.created_at + timedelta(seconds=180)
    assert check_deadline(passed_check(connection)) is None


def test_a_lost_check_reads_as_failed_with_the_step_that_says_why(
    owner_client, connection
):
    step = {
        "key": "url_policy",
        "name": "URL policy",
        "status": "passed",
        "detail": "ok",
        "fix": "",
    }
    check = _running(
        connection, started=RUN_DEADLINE + timedelta(seconds=5), steps=[step]
    )

    data = owner_client.get(_url(check), **JSON).json()

    assert data["status"] == "failed"
    assert data["deadline"] is None
    assert data["steps"][0]["status"] == "passed"  # what it got done is kept
    assert data["steps"][1]["status"] == "failed"
    assert LOST in data["steps"][1]["detail"]
    assert "celery -A config worker" in data["steps"][1]["fix"]
    assert [s["status"] for s in data["steps"][2:]] == ["skipped"] * 6
    check.refresh_from_db()
    assert check.status == "failed" and check.finished_at is not None
    assert steps_by_key(check)["discovery"]["status"] == "failed"
    assert AuditEvent.objects.filter(action="connection.check_failed").count() == 1


def test_the_page_of_a_lost_check_says_so_and_offers_a_re_run_that_works(
    owner_client, connection, django_capture_on_commit_callbacks
):
    check = _running(connection, started=timedelta(minutes=3))

    page = owner_client.get(_url(check)).content.decode()

    assert "data-poll-url" not in page
    assert "The check failed." in page
    assert LOST in page
    rerun = reverse("connection_test", args=["acme", connection.pk])
    assert f'action="{rerun}"' in page
    assert "Test the current draft again" in page

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = owner_client.post(rerun)
    new = ConnectionCheck.objects.exclude(pk=check.pk).get()
    assert response.status_code == 302
    assert response.url == _url(new)
    assert new.status == "queued" and len(queued) == 1


def test_a_running_check_within_its_deadline_says_when_it_will_be_given_up(
    owner_client, connection
):
    check = _running(connection, started=timedelta(seconds=5))
    deadline = check_deadline(check)
    assert deadline is not None

    data = owner_client.get(_url(check), **JSON).json()
    page = owner_client.get(_url(check)).content.decode()

    assert data["status"] == "running"
    assert data["deadline"] == deadline.isoformat()
    assert f'<time datetime="{deadline.isoformat()}"' in page
    assert "it is marked failed, and you can run it again" in page
    # The re-run is always on offer (here it leads to the check under way).
    assert "Test the current draft again" in page
    detail = owner_client.get(
        reverse("connection_detail", args=["acme", connection.pk])
    ).content.decode()
    assert "Test configuration</button>" in detail
    assert "disabled>Test configuration" not in detail


def test_test_with_a_lost_check_starts_a_new_one(
    owner_client, connection, django_capture_on_commit_callbacks
):
    stuck = _running(connection, started=timedelta(minutes=5))
    url = reverse("connection_test", args=["acme", connection.pk])

    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(url, **JSON)

    assert response.status_code == 202
    assert response.json()["id"] != stuck.pk
    assert response.json()["status"] == "queued"
    stuck.refresh_from_db()
    assert stuck.status == "failed"


def test_test_still_returns_a_check_under_way(owner_membership, connection):
    under_way = _running(connection, started=timedelta(seconds=20))
    again = connection_check_start(
        actor_membership=owner_membership, connection=connection
    )
    assert again.pk == under_way.pk


def test_a_check_no_worker_took_reads_as_failed_on_the_connection_pages(
    owner_client, connection
):
    queued = passed_check(connection, status="queued")
    ConnectionCheck.objects.filter(pk=queued.pk).update(
        created_at=timezone.now() - timedelta(minutes=4)
    )

    detail = owner_client.get(
        reverse("connection_detail", args=["acme", connection.pk]), **JSON
    ).json()
    listed = owner_client.get(reverse("connection_list", args=["acme"]), **JSON).json()

    assert detail["latest_check"]["status"] == "failed"
    assert listed[0]["latest_check"]["status"] == "failed"
    queued.refresh_from_db()
    assert (
        "No worker picked the check up within 3 minutes."
        in (steps_by_key(queued)["url_policy"]["detail"])
    )


def test_the_sweep_fails_lost_checks_without_anyone_looking(connection):
    lost = _running(connection, started=RUN_DEADLINE + timedelta(seconds=1))
    fresh = _running(connection, started=RUN_DEADLINE - timedelta(seconds=10))

    assert tasks.checks_fail_stuck.delay().get() == 1

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert (lost.status, fresh.status) == ("failed", "running")


def test_the_lost_check_s_task_delivered_again_finds_nothing_to_do(
    owner_client, connection
):
    # acks_late: a worker that died has its task handed to another worker.
    check = _running(connection, started=timedelta(minutes=2))
    assert owner_client.get(_url(check), **JSON).json()["status"] == "failed"
    assert tasks.connection_check_run.delay(check.pk).get() == "skipped"
    check.refresh_from_db()
    assert check.status == "failed"
