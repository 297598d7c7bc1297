"""Issue 20: a missing worker is named, not waited on forever.

Workers stamp a heartbeat in the shared cache (config.celery.WorkerHeartbeat);
pages that wait on a queued job show a banner when it is missing, /readyz
reads it, and a domain check nobody ran ends as failed.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connections.models import ConnectionCheck
from domains.models import Domain
from domains.services import CHECK_STALE_AFTER
from organizations.workers import (
    worker_heartbeat_stamp,
    worker_missing_for,
    worker_seen,
)
from rolemapping.models import Membership
from tests.connections.conftest import make_connection, passed_check

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def with_broker(settings):
    """Tasks go to a broker (no worker in-process): what production does."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6399/0"
    settings.CELERY_TASK_ALWAYS_EAGER = False


@pytest.fixture
def connection(org):
    owner_membership = Membership.objects.get(organization=org, user=org.owner)
    return make_connection(owner_membership, "https://acme.okta.example")


def queued_check(connection, ago: timedelta) -> ConnectionCheck:
    check = passed_check(connection, status=ConnectionCheck.Status.QUEUED)
    ConnectionCheck.objects.filter(pk=check.pk).update(created_at=timezone.now() - ago)
    check.refresh_from_db()
    return check


def check_url(check):
    return reverse("check_detail", args=["acme", check.connection_id, check.pk])


def test_a_fresh_stamp_is_a_worker_and_an_old_one_is_not(db):
    assert not worker_seen()
    worker_heartbeat_stamp()
    assert worker_seen()
    worker_heartbeat_stamp(time.time() - 60)
    assert not worker_seen()


def test_a_worker_of_another_queue_does_not_count(db, settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = "other"
    worker_heartbeat_stamp()
    settings.CELERY_TASK_DEFAULT_QUEUE = "celery"
    assert not worker_seen()


def test_without_a_broker_nothing_waits_for_a_worker(db, settings):
    settings.CELERY_BROKER_URL = ""
    assert not worker_missing_for(timezone.now() - timedelta(minutes=1))


def test_a_queued_check_with_no_worker_shows_the_banner(
    with_broker, owner_client, connection
):
    check = queued_check(connection, timedelta(seconds=10))

    data = owner_client.get(check_url(check), **JSON).json()
    page = owner_client.get(check_url(check)).content.decode()

    assert data["status"] == "queued" and data["worker_missing"] is True
    banner = page.split("data-worker-banner")[1].split("</p>")[0]
    assert "hidden" not in banner.split(">")[0]
    assert "celery -A config worker" in banner


def test_no_banner_while_a_worker_beats_or_before_a_few_seconds(
    with_broker, owner_client, connection
):
    fresh = queued_check(connection, timedelta(seconds=1))
    assert owner_client.get(check_url(fresh), **JSON).json()["worker_missing"] is False

    old = queued_check(connection, timedelta(seconds=30))
    worker_heartbeat_stamp()
    assert owner_client.get(check_url(old), **JSON).json()["worker_missing"] is False
    page = owner_client.get(check_url(old)).content.decode()
    assert "data-worker-banner hidden" in page


def test_the_connection_page_shows_the_banner_for_its_waiting_check(
    with_broker, owner_client, connection
):
    queued_check(connection, timedelta(seconds=10))
    page = owner_client.get(
        reverse("connection_detail", args=["acme", connection.pk])
    ).content.decode()
    assert "data-worker-banner>" in page or "data-worker-banner >" in page


def test_a_domain_check_with_no_worker_shows_the_banner(with_broker, owner_client, org):
    domain = Domain.objects.create(
        organization=org,
        name="acme.test",
        token="t",
        check_requested_at=timezone.now() - timedelta(seconds=10),
    )
    data = owner_client.get(f"/orgs/acme/domains/{domain.pk}/verify/", **JSON).json()
    assert data["status"] == "checking" and data["worker_missing"] is True
    page = owner_client.get("/orgs/acme/domains/").content.decode()
    assert "No worker is running." in page
    assert "data-worker-banner hidden" not in page


def test_a_domain_check_nobody_ran_ends_as_failed_with_a_retry(owner_client, org):
    domain = Domain.objects.create(
        organization=org,
        name="acme.test",
        token="t",
        check_requested_at=timezone.now() - CHECK_STALE_AFTER - timedelta(seconds=1),
    )

    data = owner_client.get(f"/orgs/acme/domains/{domain.pk}/verify/", **JSON).json()
    page = owner_client.get("/orgs/acme/domains/").content.decode()

    assert data["status"] == "pending"
    assert "The check failed: no task worker ran it" in data["detail"]
    assert "The check failed: no task worker ran it" in page
    assert "Verify now" in page
    domain.refresh_from_db()
    assert domain.check_requested_at is None
    # Idempotent: reading again changes nothing.
    owner_client.get("/orgs/acme/domains/")
    assert Domain.objects.get(pk=domain.pk).detail == domain.detail


def test_readyz_takes_a_fresh_heartbeat_without_pinging(
    client, db, settings, monkeypatch
):
    from config.celery import app

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setattr("config.health._broker", lambda: "ok")

    def ping(**kwargs):
        raise AssertionError("a fresh heartbeat needs no ping")

    monkeypatch.setattr(app.control, "ping", ping)
    worker_heartbeat_stamp()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["worker"] == "ok"


def test_readyz_says_not_ready_without_heartbeat_or_answer(
    client, db, settings, monkeypatch
):
    from config.celery import app

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setattr("config.health._broker", lambda: "ok")
    monkeypatch.setattr(app.control, "ping", lambda timeout, limit: [])
    worker_heartbeat_stamp(time.time() - 600)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "no worker answered"


@pytest.mark.worker
def test_a_running_worker_stamps_the_heartbeat(celery_worker, settings):
    # The test worker consumes a queue of its own (CELERY_QUEUE in its env).
    settings.CELERY_TASK_DEFAULT_QUEUE = celery_worker["queue"]
    deadline = time.monotonic() + 20
    while not worker_seen():
        assert time.monotonic() < deadline, "the worker never stamped a heartbeat"
        time.sleep(0.5)
