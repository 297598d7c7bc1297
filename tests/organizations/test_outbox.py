"""The outbox (issue 16, item 2): every email is a row written with the change
that caused it, sent on commit, retried by the flush, and never lost to a
broker or mail server that is down."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from organizations import mail as outbox
from organizations.broker import publish_watch
from organizations.crypto import decrypt_secret
from organizations.mail import email_enqueue, email_send, emails_flush
from organizations.models import OutboundEmail
from organizations.tasks import outbox_flush
from tests.admin_pages import (
    assert_constant_changelist_queries,
    change_url,
    changelist_url,
    page,
)

pytestmark = pytest.mark.django_db

TOKEN = "tok-Zq9vX7w-never-in-a-log-41c7"
LOG = "organizations.mail"


class RefusingBackend(BaseEmailBackend):
    """A mail server that hangs up on every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture
def enqueue(django_capture_on_commit_callbacks):
    """Write one email as a service would; ``sent=False``: the commit's publish
    is lost (as with a worker that never got it)."""

    def run(sent: bool = True, **fields) -> OutboundEmail:
        values = {
            "to": "ann@acme.test",
            "subject": "Your link",
            "text": f"Open https://console.test/x/{TOKEN}/",
            "html": f'<a href="https://console.test/x/{TOKEN}/">open</a>',
            "kind": "test",
            **fields,
        }
        with django_capture_on_commit_callbacks(execute=sent):
            row = email_enqueue(**values)
        row.refresh_from_db()
        return row

    return run


def _due(minutes: int = 2) -> None:
    """Time passes: every pending row is past its next try."""
    past = timezone.now() - timedelta(minutes=minutes)
    OutboundEmail.objects.update(next_attempt_at=past, created_at=past)


def test_an_email_is_sent_on_commit_and_its_body_emptied(enqueue):
    row = enqueue(subject="Your link\r\nBcc: x@evil.test")
    assert (row.status, row.attempts, row.body_sealed) == ("sent", 1, "")
    assert row.sent_at is not None and row.last_error == ""
    (message,) = mail.outbox
    assert message.to == ["ann@acme.test"]
    assert message.subject == "Your link Bcc: x@evil.test"  # email_subject()
    assert message.bcc == []
    assert TOKEN in message.body and TOKEN in message.alternatives[0][0]


def test_the_body_is_encrypted_until_it_is_sent(enqueue):
    row = enqueue(sent=False)
    assert row.status == "pending" and mail.outbox == []
    assert TOKEN not in row.body_sealed
    assert TOKEN in decrypt_secret(row.body_sealed)


def test_a_broker_refusal_loses_nothing_and_the_flush_sends_it_later(
    enqueue, broker_down
):
    with publish_watch() as queue:
        row = enqueue()
    assert (queue.published, queue.failed) == (0, 1)
    assert (row.status, row.attempts) == ("pending", 0)
    assert mail.outbox == []

    broker_down.back()
    assert emails_flush() == 0  # under a minute old: its own publish may come
    _due()
    assert outbox_flush.delay().get() == 1
    row.refresh_from_db()
    assert (row.status, row.body_sealed) == ("sent", "")
    assert [m.to for m in mail.outbox] == [["ann@acme.test"]]


def test_after_a_refusal_the_process_stops_asking_the_broker_for_a_while(
    broker_down, django_capture_on_commit_callbacks
):
    with publish_watch() as queue, django_capture_on_commit_callbacks(execute=True):
        for n in range(5):
            email_enqueue(to=f"p{n}@acme.test", subject="s", text="t", kind="test")
    # One timeout for the page, not five.
    assert broker_down.refused == 1
    assert queue.failed == 5
    assert OutboundEmail.objects.filter(status="pending").count() == 5


def test_a_refusing_mail_server_is_tried_again_later_then_given_up(
    enqueue, settings, caplog
):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    settings.OUTBOX_MAX_ATTEMPTS = 3
    caplog.set_level(logging.INFO, logger=LOG)
    row = enqueue()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("SMTPServerDisconnected")
    wait = row.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < wait <= timedelta(minutes=1)
    assert email_send(email_id=row.pk) == "skipped"  # not before its next try
    assert emails_flush() == 0

    OutboundEmail.objects.update(next_attempt_at=timezone.now())
    assert email_send(email_id=row.pk) == "retry"
    row.refresh_from_db()
    wait = row.next_attempt_at - timezone.now()
    assert timedelta(minutes=1) < wait <= timedelta(minutes=2)  # backing off

    OutboundEmail.objects.update(next_attempt_at=timezone.now())
    assert email_send(email_id=row.pk) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.body_sealed) == ("failed", 3, "")
    assert "SMTPServerDisconnected" in row.last_error
    assert emails_flush() == 0  # given up: never queued again
    # The logs say which email and why, never what it said.
    assert f"Gave up on email {row.pk} (test)" in caplog.text
    assert TOKEN not in caplog.text


def test_one_sender_at_a_time_and_a_dead_sender_lets_go(enqueue):
    row = enqueue(sent=False)
    held = timezone.now() + timedelta(minutes=5)
    OutboundEmail.objects.update(claimed_until=held, attempts=1)
    assert email_send(email_id=row.pk) == "skipped"  # another sender has it
    _due()
    OutboundEmail.objects.update(claimed_until=held)
    assert emails_flush() == 0

    # That sender died: its hold ends, and the flush sends the email.
    OutboundEmail.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert emails_flush() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)
    assert email_send(email_id=row.pk) == "skipped"  # a duplicate message
    assert len(mail.outbox) == 1


def test_a_newer_email_with_the_same_key_replaces_one_not_sent(enqueue):
    first = enqueue(sent=False, dedupe_key="link:7")
    second = enqueue(dedupe_key="link:7")
    first.refresh_from_db()
    assert (first.status, first.body_sealed) == ("cancelled", "")
    assert second.status == "sent" and len(mail.outbox) == 1
    # Sent ones stay as they are.
    third = enqueue(dedupe_key="link:7")
    second.refresh_from_db()
    assert (second.status, third.status) == ("sent", "sent")


def test_the_senders_app_decides_at_send_time_and_records_the_sending(
    enqueue, monkeypatch
):
    recorded = []
    monkeypatch.setitem(
        outbox._kinds,
        "wanted",
        outbox.EmailKind(
            "wanted",
            still_wanted=lambda row: row.ref["ok"],
            on_sent=lambda row: recorded.append(row.ref["ok"]),
        ),
    )
    unwanted = enqueue(kind="wanted", ref={"ok": False})
    wanted = enqueue(kind="wanted", ref={"ok": True})
    assert (unwanted.status, unwanted.body_sealed) == ("cancelled", "")
    assert wanted.status == "sent"
    assert recorded == [True] and len(mail.outbox) == 1


def test_a_failure_to_record_the_sending_does_not_send_twice(
    enqueue, monkeypatch, caplog
):
    def broken(row):
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(
        outbox._kinds, "recorded", outbox.EmailKind("recorded", on_sent=broken)
    )
    row = enqueue(kind="recorded")
    assert row.status == "sent" and len(mail.outbox) == 1
    assert "recording that failed" in caplog.text


def test_a_body_whose_key_was_removed_is_given_up_at_once(enqueue, settings):
    row = enqueue(sent=False)
    settings.FIELD_ENCRYPTION_KEYS = ["YW5vdGhlci1rZXktMzItYnl0ZXMtbG9uZy0wMDAwMDA="]
    assert email_send(email_id=row.pk) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and "ImproperlyConfigured" in row.last_error
    assert mail.outbox == []


def test_the_flush_deletes_old_finished_rows_and_keeps_waiting_ones(
    enqueue, settings, broker_down
):
    settings.OUTBOX_KEEP_DAYS = 30
    sent = enqueue(sent=False)
    waiting = enqueue(sent=False)
    OutboundEmail.objects.filter(pk=sent.pk).update(status="sent", body_sealed="")
    OutboundEmail.objects.update(created_at=timezone.now() - timedelta(days=31))
    emails_flush()  # the broker is down: nothing queued, the clean-up still runs
    assert list(OutboundEmail.objects.values_list("pk", flat=True)) == [waiting.pk]


def test_the_beat_flushes_the_outbox_every_minute():
    entry = django_settings.CELERY_BEAT_SCHEDULE["outbox-flush"]
    assert entry == {"task": "organizations.tasks.outbox_flush", "schedule": 60}


def test_support_staff_see_the_outbox_but_never_a_body(
    admin_client, enqueue, django_assert_max_num_queries
):
    sent = enqueue()
    waiting = enqueue(sent=False, to="bob@acme.test")
    html = page(admin_client, changelist_url(OutboundEmail), status__exact="pending")
    assert "bob@acme.test" in html and "ann@acme.test" not in html
    for row in (sent, waiting):
        assert TOKEN not in page(admin_client, change_url(row))
    assert admin_client.post(change_url(waiting), {"to": "x@y.test"}).status_code == (
        403
    )
    assert_constant_changelist_queries(
        admin_client,
        OutboundEmail,
        lambda: enqueue(sent=False),
        django_assert_max_num_queries,
    )
