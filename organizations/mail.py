"""The outbox: every email the product sends goes through here.

An app that decides to send an email renders it and calls :func:`email_enqueue`
inside the transaction that made the decision (an invitation, a failed
domain, a sign-up). The email is a row (``OutboundEmail``): it commits with
the change that caused it, or not at all. On commit the row's id is handed to
the broker (``organizations.tasks.outbox_send``); a broker that is down or
frozen loses nothing, because ``organizations.tasks.outbox_flush`` (beat,
every minute) queues again every row still due. Without a broker (``make
run``, the tests) the task runs in-process on commit, as the emails did before.

Sending claims the row first (an atomic update: at most one sender at a time,
a sender that died lets go after ``OUTBOX_SEND_LEASE`` seconds), asks the
sender's app whether the email is still wanted (an invitation revoked or
re-sent meanwhile is not mailed), sends, and records the attempt: sent, or
the error and the next try (1, 2, 4 ... 60 minutes), or, after
``OUTBOX_MAX_ATTEMPTS``, failed for good, which support staff see in the
admin. Delivery is at least once: a sender that dies between the SMTP server's
"250" and its own update sends that email again.

Bodies can hold a working link (an invitation, a password reset): they are
encrypted at rest with the field-encryption keys and emptied as soon as the
email is sent, replaced or given up. Logs name an email by id and kind, never
by its body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from organizations.broker import task_publish
from organizations.crypto import decrypt_secret, encrypt_secret
from organizations.models import Organization, OutboundEmail
from organizations.text import email_subject

__all__ = [
    "EmailKind",
    "email_enqueue",
    "email_kind_register",
    "email_send",
    "emails_flush",
]

logger = logging.getLogger(__name__)

Status = OutboundEmail.Status

# A row created less than this long ago is left to the publish its commit
# made; after that, the flush queues it again.
REQUEUE_AFTER = timedelta(seconds=60)
FLUSH_BATCH = 500
ERROR_MAX_LENGTH = 300


@dataclass(frozen=True)
class EmailKind:
    """What the app that sends one kind of email says about it.

    ``still_wanted(row)`` is asked just before sending (False: the email is
    cancelled, say a revoked invitation's); ``on_sent(row)`` records that it
    went out (a counter, an audit row). Both read ``row.ref``.
    """

    name: str
    still_wanted: Callable[[OutboundEmail], bool] | None = None
    on_sent: Callable[[OutboundEmail], None] | None = None


_kinds: dict[str, EmailKind] = {}


def email_kind_register(
    name: str,
    *,
    still_wanted: Callable[[OutboundEmail], bool] | None = None,
    on_sent: Callable[[OutboundEmail], None] | None = None,
) -> None:
    """Called from an app's ``AppConfig.ready``; registering twice is harmless."""
    _kinds[name] = EmailKind(name, still_wanted, on_sent)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _seal(text: str, html: str | None) -> str:
    return encrypt_secret(json.dumps({"text": text, "html": html or ""}))


def _unseal(sealed: str) -> tuple[str, str]:
    body = json.loads(decrypt_secret(sealed))
    return str(body["text"]), str(body.get("html") or "")


def email_enqueue(
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    kind: str,
    organization: Organization | None = None,
    ref: dict[str, Any] | None = None,
    dedupe_key: str = "",
) -> OutboundEmail:
    """Write one email to the outbox in the caller's transaction; it is queued
    for sending when that transaction commits.

    ``dedupe_key``: an email with the same key that has not been sent yet is
    cancelled, this one replaces it (a newer link makes the older one moot).
    """
    if dedupe_key:
        OutboundEmail.objects.filter(
            dedupe_key=dedupe_key, status=Status.PENDING
        ).update(
            status=Status.CANCELLED,
            body_sealed="",
            claimed_until=None,
            last_error="Replaced by a newer email.",
        )
    row = OutboundEmail.objects.create(
        kind=kind,
        organization=organization,
        to=to,
        subject=email_subject(subject),
        body_sealed=_seal(text, html),
        ref=ref or {},
        dedupe_key=dedupe_key,
    )
    transaction.on_commit(partial(_publish, row.pk))
    return row


def _publish(email_id: int) -> bool:
    from organizations.tasks import outbox_send

    return task_publish(outbox_send, email_id)


# ------------------------------------------------------------------ sending


def _claim(email_id: int) -> OutboundEmail | None:
    """The row, held by this sender for the lease; None when it is not due,
    already held, or no longer pending."""
    now = timezone.now()
    lease = timedelta(seconds=_setting("OUTBOX_SEND_LEASE", 300))
    claimed = (
        OutboundEmail.objects.filter(pk=email_id, status=Status.PENDING)
        # A new row at once (whatever this host's clock says), a failed one
        # not before its next try, however many messages name it.
        .filter(Q(attempts=0) | Q(next_attempt_at__lte=now))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + lease, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    return OutboundEmail.objects.get(pk=email_id)


def _close(row: OutboundEmail, status: str, error: str = "") -> None:
    fields: dict[str, Any] = {
        "status": status,
        "body_sealed": "",
        "claimed_until": None,
        "last_error": error[:ERROR_MAX_LENGTH],
    }
    if status == Status.SENT:
        fields["sent_at"] = timezone.now()
    OutboundEmail.objects.filter(pk=row.pk).update(**fields)


def _backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes after the attempt that failed, at most an hour."""
    return timedelta(minutes=min(2 ** max(0, attempts - 1), 60))


def _attempt_failed(row: OutboundEmail, error: str) -> str:
    if row.attempts >= _setting("OUTBOX_MAX_ATTEMPTS", 8):
        logger.error(
            "Gave up on email %s (%s) after %s attempts: %s",
            row.pk,
            row.kind,
            row.attempts,
            error,
        )
        _close(row, Status.FAILED, error)
        return "failed"
    logger.warning(
        "Email %s (%s) not sent, attempt %s: %s", row.pk, row.kind, row.attempts, error
    )
    OutboundEmail.objects.filter(pk=row.pk).update(
        claimed_until=None,
        last_error=error[:ERROR_MAX_LENGTH],
        next_attempt_at=timezone.now() + _backoff(row.attempts),
    )
    return "retry"


def _error_text(exc: BaseException) -> str:
    # The exception, never the message: smtplib's errors carry the server's
    # reply and the addresses, not the body.
    return f"{type(exc).__name__}: {exc}"


def email_send(*, email_id: int) -> str:
    """Send one outbox email (``outbox_send``'s one service call).

    Returns what happened: "sent", "retry" (it will be tried again), "failed"
    (given up), "cancelled" (no longer wanted), or "skipped" (not due, held by
    another sender, or finished already).
    """
    row = _claim(email_id)
    if row is None:
        return "skipped"
    kind = _kinds.get(row.kind)
    if kind is not None and kind.still_wanted is not None:
        try:
            wanted = kind.still_wanted(row)
        except Exception as exc:
            logger.exception("Could not tell whether email %s is wanted", row.pk)
            return _attempt_failed(row, _error_text(exc))
        if not wanted:
            _close(row, Status.CANCELLED, "No longer wanted when its turn came.")
            return "cancelled"
    try:
        text, html = _unseal(row.body_sealed)
    except (ImproperlyConfigured, ValueError, KeyError) as exc:
        # Its key left FIELD_ENCRYPTION_KEYS: no later try can read it either.
        _close(row, Status.FAILED, _error_text(exc))
        logger.error("Email %s (%s) cannot be decrypted; gave up", row.pk, row.kind)
        return "failed"
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.to],
    )
    if html:
        message.attach_alternative(html, "text/html")
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # SMTP refusals, timeouts, the soft time limit
        return _attempt_failed(row, _error_text(exc))
    _close(row, Status.SENT)
    logger.info("Email %s (%s) sent", row.pk, row.kind)
    if kind is not None and kind.on_sent is not None:
        try:
            kind.on_sent(row)
        except Exception:
            # The email went out; only its record on the sender's side is missing.
            logger.exception("Email %s was sent; recording that failed", row.pk)
    return "sent"


# ------------------------------------------------------------------ the beat


def emails_flush() -> int:
    """Queue again every email still due; delete old finished rows.

    Due: never tried and older than a minute (its first publish was lost or
    the broker was down), or tried, failed, and past its next try. A row held
    by a sender that died is due again once its lease ends. Stops at the
    first refusal of the broker: the next flush goes on. Returns how many
    were queued.
    """
    now = timezone.now()
    due = (
        OutboundEmail.objects.filter(status=Status.PENDING)
        .filter(
            Q(attempts=0, next_attempt_at__lte=now - REQUEUE_AFTER)
            | Q(attempts__gt=0, next_attempt_at__lte=now)
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:FLUSH_BATCH]
    )
    queued = 0
    for email_id in list(due):
        if not _publish(email_id):
            break
        queued += 1
    keep = timedelta(days=_setting("OUTBOX_KEEP_DAYS", 30))
    OutboundEmail.objects.filter(created_at__lt=now - keep).exclude(
        status=Status.PENDING
    ).delete()
    return queued
