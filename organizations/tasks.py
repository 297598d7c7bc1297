"""The outbox's tasks: transport only, one service call each."""

from __future__ import annotations

from celery import shared_task

from organizations.mail import email_send, emails_flush

__all__ = ["outbox_flush", "outbox_send"]


@shared_task(
    name="organizations.tasks.outbox_send",
    # No Celery retries: a failed attempt is recorded on the row, and the
    # flush queues it again when its next try is due.
    soft_time_limit=30,
    time_limit=45,
    ignore_result=True,
)
def outbox_send(email_id: int) -> str:
    """Send one email of the outbox; says what happened."""
    return email_send(email_id=email_id)


@shared_task(
    name="organizations.tasks.outbox_flush",
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
)
def outbox_flush() -> int:
    """Beat, every minute: queue again the emails still due."""
    return emails_flush()
