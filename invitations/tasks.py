"""Invitation expiry, and the old email task: transport only, one service call
each. Invitation emails go through the outbox (organizations.tasks)."""

from __future__ import annotations

from celery import shared_task

from invitations.services import invitation_email_requeue, invitations_mark_expired

__all__ = ["invitation_send", "invitations_expire"]


@shared_task(
    name="invitations.tasks.invitation_send",
    soft_time_limit=30,
    time_limit=45,
    ignore_result=True,
)
def invitation_send(invitation_id: int, sealed_token: str) -> bool:
    """Kept so that messages queued before the outbox still lead to an email:
    the invitation's email goes into the outbox (nothing when its link is dead).
    """
    return invitation_email_requeue(
        invitation_id=invitation_id, sealed_token=sealed_token
    )


@shared_task(
    name="invitations.tasks.invitations_expire",
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
)
def invitations_expire() -> int:
    """Hourly: mark and audit invitations that passed their expiry."""
    return invitations_mark_expired()
