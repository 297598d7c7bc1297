"""Accounts' emails: transport only, one service call each."""

from __future__ import annotations

import smtplib
from typing import Any

from celery import shared_task

from accounts.services import email_proof_email_send, signup_notice_email_send

__all__ = ["email_proof_send", "signup_notice_send"]

_EMAIL_TASK: dict[str, Any] = {
    # SMTP refusals, timeouts and unreachable servers are worth another try;
    # smtplib's errors are OSErrors, listed for the reader.
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": 30 * 60,
    "retry_jitter": True,
    "max_retries": 6,
    "soft_time_limit": 30,
    "time_limit": 45,
    "ignore_result": True,
}


@shared_task(name="accounts.tasks.email_proof_send", **_EMAIL_TASK)
def email_proof_send(user_id: int) -> bool:
    """Email the link that proves an account's address; quietly does nothing
    when the account is gone or proven already."""
    return email_proof_email_send(user_id=user_id)


@shared_task(name="accounts.tasks.signup_notice_send", **_EMAIL_TASK)
def signup_notice_send(user_id: int) -> bool:
    """Tell an account's owner that someone tried to sign up with its address."""
    return signup_notice_email_send(user_id=user_id)
