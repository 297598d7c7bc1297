"""Invitation emails and expiry: transport only, one service call each."""

from __future__ import annotations

import smtplib

from celery import shared_task

from invitations.services import invitation_email_send, invitations_mark_expired

__all__ = ["invitation_send", "invitations_expire"]


@shared_task(
    name="invitations.tasks.invitation_send",
    # SMTP refusals, timeouts and unreachable servers are worth another try;
    # smtplib's errors are OSErrors, listed for the reader.
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=6,
    soft_time_limit=30,
    time_limit=45,
    ignore_result=True,
)
def invitation_send(invitation_id: int, sealed_token: str) -> bool:
    """Email one invitation; quietly does nothing when its link is dead."""
    return invitation_email_send(invitation_id=invitation_id, sealed_token=sealed_token)


@shared_task(
    name="invitations.tasks.invitations_expire",
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
)
def invitations_expire() -> int:
    """Hourly: mark and audit invitations that passed their expiry."""
    return invitations_mark_expired()
