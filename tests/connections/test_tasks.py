"""Checks on the worker: stuck checks, hourly health, the real worker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from connections import tasks
from connections.models import Connection, ConnectionCheck
from connections.selectors import connections_failing_health
from connections.services.checks import (
    checks_fail_stuck,
    connection_check_run,
    connection_check_start,
    connection_health_checks_start,
)
from organizations.models import AuditEvent, OutboundEmail
from tests.connections.conftest import (
    CLIENT_ID,
    SECRET,
    make_connection,
    passed_check,
    steps_by_key,
)

ISSUER = "https://acme.okta.example"


def _aged(check: ConnectionCheck, status: str, minutes: int) -> ConnectionCheck:
    then = timezone.now() - timedelta(minutes=minutes)
    ConnectionCheck.objects.filter(pk=check.pk).update(
        status=status,
        created_at=then,
        started_at=then if status == "running" else None,
    )
    check.refresh_from_db()
    return check


def test_a_check_left_running_by_a_dead_worker_is_failed(owner_membership):
    connection = make_connection(owner_membership, ISSUER)
    running = _aged(passed_check(connection), "running", minutes=10)
    ConnectionCheck.objects.filter(pk=running.pk).update(
        steps=[
            {
                "key": "url_policy",
                "name": "URL policy",
                "status": "passed",
                "detail": "ok",
                "fix": "",
            }
        ]
    )
    queued = _aged(passed_check(connection), "queued", minutes=10)
    fresh = _aged(passed_check(connection), "running", minutes=1)
    assert tasks.checks_fail_stuck.delay().get() == 2
    running.refresh_from_db()
    queued.refresh_from_db()
    fresh.refresh_from_db()
    assert running.status == queued.status == "failed"
    assert running.finished_at is not None
    steps = steps_by_key(running)
    assert steps["url_policy"]["status"] == "passed"  # what it got done is kept
    assert steps["discovery"]["status"] == "failed"
    assert "worker running it stopped" in steps["discovery"]["detail"]
    assert "celery -A config worker" in steps["discovery"]["fix"]
    assert len(running.steps) == 8
    assert (
        "No worker picked the check up" in steps_by_key(queued)["url_policy"]["detail"]
    )
    assert fresh.status == "running"
    assert AuditEvent.objects.filter(action="connection.check_failed").count() == 2


def test_the_stuck_timeout_is_a_setting(owner_membership, settings):
    settings.CONNECTION_CHECK_TIMEOUT_SECONDS = 30
    connection = make_connection(owner_membership, ISSUER)
    check = _aged(passed_check(connection), "running", minutes=1)
    assert checks_fail_stuck() == 1
    check.refresh_from_db()
    assert check.status == "failed"


def test_a_late_result_does_not_overwrite_the_sweeps_verdict(
    idp, owner_membership, django_capture_on_commit_callbacks
):
    connection = make_connection(owner_membership, idp.issuer)
    check = connection_check_start(
        actor_membership=owner_membership, connection=connection
    )
    _aged(check, "queued", minutes=10)
    checks_fail_stuck()
    # The task is delivered late (a redelivery): it finds nothing to do.
    assert connection_check_run(check_id=check.pk) is None
    check.refresh_from_db()
    assert check.status == "failed"


def test_a_task_for_a_deleted_check_exits_quietly(db):
    assert tasks.connection_check_run.delay(987654).get() == "skipped"


def test_a_broker_outage_fails_the_check_with_a_sentence(
    owner_membership, django_capture_on_commit_callbacks, monkeypatch
):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.connection_check_run, "apply_async", down)
    connection = make_connection(owner_membership, ISSUER)
    with django_capture_on_commit_callbacks(execute=True):
        check = connection_check_start(
            actor_membership=owner_membership, connection=connection
        )
    check.refresh_from_db()
    assert check.status == "failed"
    assert check.result["code"] == "task_queue_unreachable"
    assert "the task queue (broker) is not reachable" in check.steps[0]["detail"]
    assert "Try again when it is back" in check.steps[0]["fix"]


def test_an_undecryptable_secret_fails_the_check_with_a_sentence(
    owner_membership, settings, run_check
):
    connection = make_connection(owner_membership, ISSUER)
    settings.FIELD_ENCRYPTION_KEYS = ["YW5vdGhlci1rZXktMzItYnl0ZXMtbG9uZy0wMDAwMDA="]
    check = run_check(owner_membership, connection)
    assert check.status == "failed"
    assert "cannot be decrypted" in check.steps[0]["detail"]


# -- hourly health ------------------------------------------------------------------


@pytest.fixture
def live(idp, owner_membership):
    connection = make_connection(owner_membership, idp.issuer)
    Connection.objects.filter(pk=connection.pk).update(
        live=connection.draft, published_at=timezone.now(), health="passing"
    )
    connection.refresh_from_db()
    return connection


def _health_pass(django_capture_on_commit_callbacks) -> list[int]:
    with django_capture_on_commit_callbacks(execute=True):
        ids = connection_health_checks_start()
    return ids


def test_health_checks_run_for_live_connections_only(
    live, owner_membership, django_capture_on_commit_callbacks
):
    make_connection(owner_membership, ISSUER, name="Draft only")
    ids = _health_pass(django_capture_on_commit_callbacks)
    assert len(ids) == 1
    check = ConnectionCheck.objects.get(pk=ids[0])
    assert (check.kind, check.status, check.config_id) == (
        "periodic",
        "passed",
        live.live_id,
    )
    live.refresh_from_db()
    assert live.health == "passing"
    assert not mail.outbox


def test_passing_to_failing_is_audited_emailed_and_shown_on_the_overview(
    live, org, idp, owner_client, django_capture_on_commit_callbacks
):
    _health_pass(django_capture_on_commit_callbacks)
    idp.remove_client(CLIENT_ID)  # someone deleted the app in Okta
    _health_pass(django_capture_on_commit_callbacks)
    live.refresh_from_db()
    assert live.health == "failing"
    event = AuditEvent.objects.get(action="connection.health_failing")
    assert event.details["before"] == "passing"
    assert event.details["failed_steps"] == ["client_credentials"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [org.owner.email]
    assert live.name in message.subject
    assert "Client credentials" in message.body
    assert SECRET not in message.body + str(message.alternatives)
    assert list(OutboundEmail.objects.values_list("kind", "status")) == [
        ("connection_health_failing", "sent")
    ]
    # The overview's health block.
    alerts = connections_failing_health(org)
    assert [c.pk for c in alerts] == [live.pk]
    html = render_to_string(
        "connections/_health.html", {"health_alerts": alerts, "org": org}
    )
    assert "Single sign-on needs attention" in html
    assert (
        reverse("check_detail", args=["acme", live.pk, alerts[0].failing_check_id])
        in html
    )
    # A second failing pass sends nothing new.
    _health_pass(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action="connection.health_failing").count() == 1
    # Recovery is audited and clears the alert.
    idp.add_client(CLIENT_ID, SECRET, ["http://testserver/sso/callback/"])
    _health_pass(django_capture_on_commit_callbacks)
    live.refresh_from_db()
    assert live.health == "passing"
    assert AuditEvent.objects.filter(action="connection.health_recovered").exists()
    assert connections_failing_health(org) == []


def test_the_overview_has_no_health_block_when_all_is_well(owner_client, org):
    html = render_to_string(
        "connections/_health.html", {"health_alerts": [], "org": org}
    )
    assert html.strip() == ""
    body = owner_client.get(reverse("org_overview", args=["acme"])).content.decode()
    assert "needs attention" not in body


def test_a_busy_connection_is_not_checked_twice(live, db):
    first = connection_health_checks_start()
    assert connection_health_checks_start() == []  # the first is still queued
    assert len(first) == 1


def test_the_hourly_task_queues_the_health_checks(
    live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.connections_health_check_all.delay().get() == 1
    assert ConnectionCheck.objects.get(kind="periodic").status == "passed"


def test_a_health_result_for_a_replaced_live_config_is_ignored(
    live, owner_membership, django_capture_on_commit_callbacks
):
    ids = connection_health_checks_start()
    from connections.services.connections import connection_update

    connection_update(
        actor_membership=owner_membership,
        connection=live,
        name=live.name,
        issuer_url=live.draft.issuer_url,
        client_id="other",
    )
    live.refresh_from_db()
    Connection.objects.filter(pk=live.pk).update(live=live.draft)
    connection_check_run(check_id=ids[0])
    live.refresh_from_db()
    assert live.health == "passing"


# -- logs ------------------------------------------------------------------------


def test_no_log_line_carries_the_secret(
    idp, owner_membership, run_check, caplog, settings
):
    import logging

    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "connections", "celery", "django"):
        caplog.set_level(logging.DEBUG, logger=name)
    good = make_connection(owner_membership, idp.issuer)
    bad = make_connection(owner_membership, idp.issuer, secret="x" + SECRET)
    idp.set_fault(
        idp.metadata["token_endpoint"],
        401,
        body={"error": "invalid_client", "error_description": f"echo x{SECRET}"},
        times=1,
    )
    run_check(owner_membership, bad)
    assert run_check(owner_membership, good).status == "passed"
    settings.OUTBOUND_READ_TIMEOUT = 0.3
    idp.set_fault(idp.metadata["token_endpoint"], 200, delay_ms=2000)
    run_check(owner_membership, make_connection(owner_membership, idp.issuer))
    assert caplog.records, "expected some log output"
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert SECRET not in text, record.name


# -- the real worker ---------------------------------------------------------------


@pytest.mark.worker
def test_a_check_runs_on_the_real_worker(celery_worker, oidc_idp):
    from rolemapping.models import Membership
    from tests.factories import make_org

    oidc_idp.reset()
    oidc_idp.add_client(CLIENT_ID, SECRET, ["http://testserver/sso/callback/"])
    org = make_org("worker-org")
    membership = Membership.objects.select_related("organization", "role", "user").get(
        organization=org, user=org.owner
    )
    connection = make_connection(membership, oidc_idp.issuer)
    check = connection_check_start(actor_membership=membership, connection=connection)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        check.refresh_from_db()
        if check.status in ("passed", "failed"):
            break
        time.sleep(0.1)
    assert check.status == "passed", check.steps
    assert len(check.steps) == 8
    assert check.started_at is not None and check.finished_at is not None


def test_a_line_break_in_a_stored_name_does_not_stop_the_alert_email(
    live, org, idp, django_capture_on_commit_callbacks
):
    # Issue 15, item 7: BadHeaderError used to swallow the alert. Names are
    # refused with a line break now, but rows made before (or by the shell)
    # must still get their alert, with the subject folded onto one line.
    Connection.objects.filter(pk=live.pk).update(name="Okta\r\nBcc: x@evil.test")
    type(org).objects.filter(pk=org.pk).update(name="Acme\nInc")
    _health_pass(django_capture_on_commit_callbacks)
    idp.remove_client(CLIENT_ID)
    _health_pass(django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    assert "\n" not in message.subject and "\r" not in message.subject
    assert message.subject == (
        "SSO connection 'Okta Bcc: x@evil.test' of Acme Inc is failing"
    )
    assert message.to == [org.owner.email]
