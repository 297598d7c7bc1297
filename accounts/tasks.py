"""Accounts' tasks: transport only, one service call each.

Accounts' emails go through the outbox (organizations.tasks). The two email
tasks are kept so that messages queued before it still lead to an email: each
puts its email into the outbox. The prune runs hourly (beat).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from accounts.services import (
    email_proof_email_queue,
    pending_signups_prune,
    signup_notice_email_queue,
)
from accounts.sessions import session_records_prune

__all__ = ["email_proof_send", "pending_signups_expire", "signup_notice_send"]

_EMAIL_TASK: dict[str, Any] = {
    "soft_time_limit": 30,
    "time_limit": 45,
    "ignore_result": True,
}


@shared_task(name="accounts.tasks.email_proof_send", **_EMAIL_TASK)
def email_proof_send(user_id: int) -> bool:
    """Put the link that proves an account's address into the outbox; quietly
    does nothing when the account is gone or proven already."""
    return email_proof_email_queue(user_id=user_id)


@shared_task(name="accounts.tasks.signup_notice_send", **_EMAIL_TASK)
def signup_notice_send(user_id: int) -> bool:
    """Put the "someone tried to sign up" notice into the outbox."""
    return signup_notice_email_queue(user_id=user_id)


@shared_task(
    name="accounts.tasks.pending_signups_expire",
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
)
def pending_signups_expire() -> int:
    """Hourly: delete the sign-ups whose link expired, and the index rows of
    sessions past their expiry (accounts.sessions)."""
    return pending_signups_prune() + session_records_prune()
