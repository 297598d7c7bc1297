"""Connection checks: start one, run it on the worker, watch live connections.

A check tests one configuration row (its id and fingerprint are recorded) with
the eight steps of ``connections.checks_steps``. The network steps run outside
any transaction; the result is recorded under a row lock, and only while the
check is still running, so a sweep that failed a stuck check keeps its verdict.

Every check has a deadline: the queue timeout (``CONNECTION_CHECK_TIMEOUT_SECONDS``)
while it waits for a worker, then the task's hard time limit and a few seconds
once a worker has started it. A check past its deadline is failed by whoever
looks first: the sweep (``checks_fail_stuck``, every minute on beat), a
page or JSON read (``checks_fail_overdue``), or 'Test', which then starts a
new check instead of returning the stuck one.

Lock order (docs/ARCHITECTURE.md): the connection (``FOR NO KEY UPDATE``),
then its checks. Starting a check and recording a periodic one take both, in
that order, and run in ``atomic_with_retry``.

Periodic checks of live configurations update the connection's health; a
change to failing is audited and emailed to the owner, and the overview shows
it. The client secret is decrypted only to hand it to the steps.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from connections import outbound
from connections.backend import provider_cache_forget
from connections.checks_steps import (
    FAILED,
    SKIPPED,
    STEPS,
    CheckInput,
    CheckOutcome,
    CheckPolicy,
    Step,
    run_check,
)
from connections.delegates import DraftDelegate, acting_as
from connections.models import Connection, ConnectionCheck, ConnectionConfig
from connections.outbound_guard import as_probe
from connections.services.connections import SUPPORT_PERMISSION
from connections.services.signing_keys import assertion_key_for
from organizations.broker import task_publish
from organizations.errors import ServiceError
from organizations.mail import email_enqueue
from organizations.services import audit, require_support
from organizations.transactions import atomic_with_retry
from rolemapping.models import Membership

__all__ = [
    "CHECK_SOFT_TIME_LIMIT",
    "CHECK_TIME_LIMIT",
    "HEALTH_EMAIL_KIND",
    "NOT_QUEUED",
    "check_deadline",
    "check_steps_for_display",
    "checks_fail_overdue",
    "checks_fail_stuck",
    "connection_check_run",
    "connection_check_start",
    "connection_check_start_as_support",
    "connection_health_checks_start",
]

logger = logging.getLogger(__name__)

Kind = ConnectionCheck.Kind
Status = ConnectionCheck.Status
Health = Connection.Health

# The code a check failed because the broker refused it carries (result["code"]).
NOT_QUEUED = "task_queue_unreachable"
# The outbox's name for the "connection failing" email (organizations.mail).
HEALTH_EMAIL_KIND = "connection_health_failing"

_FINISHED = (Status.PASSED, Status.FAILED)
_IN_PROGRESS = (Status.QUEUED, Status.RUNNING)


def check_steps_for_display(check: ConnectionCheck) -> list[dict[str, str]]:
    """The recorded steps, followed by the ones not run yet (status pending)."""
    steps = [dict(step) for step in check.steps if isinstance(step, dict)]
    if check.kind == Kind.TEST_SIGNIN or check.status in _FINISHED:
        return steps
    done = {step.get("key") for step in steps}
    return steps + [
        {"key": key, "name": str(name), "status": "pending", "detail": "", "fix": ""}
        for key, name in STEPS
        if key not in done
    ]


# ---------------------------------------------------------------------------
# Start, run and record


# The Celery task's time limits (connections.tasks): at the soft one the steps
# stop and the check is failed with a sentence; at the hard one the worker
# process is killed and the check is left running, for its deadline to catch.
CHECK_SOFT_TIME_LIMIT = 50
CHECK_TIME_LIMIT = 60
# After the hard limit: time for a result already on its way to be recorded.
_RESULT_GRACE_SECONDS = 15


def _check_timeout() -> timedelta:
    """How long a check may wait for a worker (and, at most, run)."""
    return timedelta(
        seconds=int(getattr(settings, "CONNECTION_CHECK_TIMEOUT_SECONDS", 180))
    )


def _run_timeout() -> timedelta:
    """How long a started check may run before it is taken for lost."""
    return min(
        _check_timeout(), timedelta(seconds=CHECK_TIME_LIMIT + _RESULT_GRACE_SECONDS)
    )


def check_deadline(check: ConnectionCheck) -> datetime | None:
    """When ``check`` is failed if it has not finished (None once finished)."""
    if check.status == Status.QUEUED or (
        check.status == Status.RUNNING and check.started_at is None
    ):
        return check.created_at + _check_timeout()
    if check.status == Status.RUNNING and check.started_at is not None:
        return check.started_at + _run_timeout()
    return None


def _overdue(now: datetime) -> Q:
    """The checks whose deadline (:func:`check_deadline`) has passed."""
    waited = now - _check_timeout()
    return (
        Q(status=Status.QUEUED, created_at__lt=waited)
        | Q(status=Status.RUNNING, started_at__lt=now - _run_timeout())
        | Q(status=Status.RUNNING, started_at__isnull=True, created_at__lt=waited)
    )


def _enqueue_check(check_id: int) -> None:
    """Queue the task; if the broker is down, fail the check at once, saying
    so (never "queued" for a check no worker will see)."""
    from connections.tasks import connection_check_run as task

    if task_publish(task, check_id):
        return
    check = _check_fail(
        check_id,
        _("The check could not be queued: the task queue (broker) is not reachable."),
        _(
            "Try again when it is back. If it keeps failing, check that the "
            "broker (CELERY_BROKER_URL) and a Celery worker are running."
        ),
    )
    if check is not None:
        ConnectionCheck.objects.filter(pk=check_id).update(
            result={**check.result, "code": NOT_QUEUED}
        )


@atomic_with_retry
def connection_check_start(
    *,
    actor_membership: Membership | DraftDelegate,
    connection: Connection,
    ip: str | None = None,
) -> ConnectionCheck:
    """Queue a check of the draft (or return the one already under way).

    A :class:`DraftDelegate` (a setup link's IT admin) may start one too.
    """
    org, user, by = acting_as(actor_membership)
    return _check_start(
        organization_id=org.pk,
        connection=connection,
        actor=user,
        ip=ip,
        details=by,
    )


@atomic_with_retry
def connection_check_start_as_support(
    *, actor: User, connection: Connection, ip: str | None = None
) -> ConnectionCheck:
    """:func:`connection_check_start` for support staff in the Django admin.

    Staff hold no membership: they need ``SUPPORT_PERMISSION``, and the audit
    row names them as the actor with ``{"by": "support"}``.
    """
    require_support(actor, SUPPORT_PERMISSION)
    return _check_start(
        organization_id=connection.organization_id,
        connection=connection,
        actor=actor,
        ip=ip,
        details={"by": "support"},
    )


def _check_start(
    *,
    organization_id: int,
    connection: Connection,
    actor: User | None,
    ip: str | None,
    details: dict[str, Any] | None = None,
) -> ConnectionCheck:
    # Read alone under the lock: a joined draft could be the one before a
    # concurrent edit. The organization never changes, so it may be joined.
    connection = (
        Connection.objects.select_for_update(no_key=True, of=("self",))
        .select_related("organization")
        .get(pk=connection.pk, organization_id=organization_id)
    )
    draft = connection.draft
    if draft is None:
        raise ServiceError(
            _("This connection has no configuration to check yet."),
            code="draft_missing",
        )
    # A check past its deadline is failed now, so a new one starts below.
    checks_fail_overdue(connection=connection)
    running = (
        ConnectionCheck.objects.filter(
            connection=connection,
            config=draft,
            kind=Kind.CHECK,
            status__in=_IN_PROGRESS,
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if running is not None:
        return running
    check = ConnectionCheck.objects.create(
        connection=connection,
        config=draft,
        fingerprint=draft.fingerprint,
        kind=Kind.CHECK,
        created_by=actor,
    )
    audit(
        action="connection.check_started",
        organization=connection.organization,
        actor=actor,
        target=connection.name,
        details={
            "connection_id": connection.pk,
            "check_id": check.pk,
            "config_id": draft.pk,
            **(details or {}),
        },
        ip=ip,
    )
    transaction.on_commit(lambda: _enqueue_check(check.pk))
    return check


def _check_input(connection: Connection, config: ConnectionConfig) -> CheckInput:
    return CheckInput(
        issuer=config.issuer_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=tuple(config.scope_list),
        groups_claim=config.groups_claim,
        email_claim=config.email_claim,
        leeway_seconds=config.leeway_seconds,
        okta=config.rules_provider == Connection.Provider.OKTA,
        provider=config.rules_provider,
        token_auth_method=config.token_auth_method,
        assertion_key=assertion_key_for(connection.pk),
    )


def _check_policy() -> CheckPolicy:
    return CheckPolicy(
        allow_insecure=bool(getattr(settings, "SSO_ALLOW_INSECURE_ISSUERS", False)),
        allow_private=bool(getattr(settings, "SSO_ALLOW_PRIVATE_NETWORKS", False)),
        dns_timeout=float(getattr(settings, "OUTBOUND_CONNECT_TIMEOUT", 3.0)),
    )


def _failed_steps(
    recorded: list[dict[str, Any]], detail: str, fix: str
) -> list[dict[str, Any]]:
    """Complete ``recorded``: the next step fails with ``detail``, the rest skip."""
    steps = [s for s in recorded if isinstance(s, dict)]
    done = {s.get("key") for s in steps}
    remaining = [key for key, _name in STEPS if key not in done]
    for position, key in enumerate(remaining):
        if position == 0:
            steps.append(Step(key, FAILED, detail, fix).as_dict())
        else:
            steps.append(
                Step(key, SKIPPED, _("Skipped: the check did not finish.")).as_dict()
            )
    return steps


def _check_fail(check_id: int, detail: str, fix: str) -> ConnectionCheck | None:
    """Fail a check that has not finished; audited. None when it had finished."""
    with transaction.atomic():
        check = (
            ConnectionCheck.objects.select_for_update(of=("self",))
            .select_related("connection__organization")
            .filter(pk=check_id, status__in=_IN_PROGRESS)
            .first()
        )
        if check is None:
            return None
        check.status = Status.FAILED
        check.steps = _failed_steps(check.steps, detail, fix)
        check.result = {**check.result, "error": detail}
        check.finished_at = timezone.now()
        check.save(update_fields=["status", "steps", "result", "finished_at"])
        audit(
            action="connection.check_failed",
            organization=check.connection.organization,
            actor=None,
            target=check.connection.name,
            details={
                "connection_id": check.connection_id,
                "check_id": check.pk,
                "kind": check.kind,
                "reason": detail,
            },
        )
    return check


def connection_check_run(*, check_id: int) -> ConnectionCheck | None:
    """Run a queued check and record its result (called by the Celery task).

    Returns None when there is nothing to do: the check is gone, or another
    run (a redelivered task) or the stuck-check sweep got to it first. The
    network steps run outside any transaction; only the recording is atomic.
    """
    claimed = ConnectionCheck.objects.filter(pk=check_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    check = ConnectionCheck.objects.select_related(
        "config", "connection__organization"
    ).get(pk=check_id)
    logger.info("Connection check %s (%s) started", check.pk, check.kind)

    def progress(steps: list[Step]) -> None:
        ConnectionCheck.objects.filter(pk=check_id, status=Status.RUNNING).update(
            steps=[step.as_dict() for step in steps]
        )

    try:
        inputs = _check_input(check.connection, check.config)
    except ImproperlyConfigured as exc:
        return _check_fail(
            check_id,
            _("The stored client secret cannot be decrypted."),
            _("%(problem)s Or save the connection again with the client secret.")
            % {"problem": exc},
        )
    try:
        outcome = run_check(
            inputs,
            policy=_check_policy(),
            # A check is an explicit probe: it passes an open circuit.
            fetch=as_probe(outbound.fetch),
            on_step=progress,
        )
    except Exception:
        # Celery's soft time limit arrives here too (SoftTimeLimitExceeded).
        logger.exception("Connection check %s stopped", check_id)
        return _check_fail(
            check_id,
            _(
                "The check stopped before it finished (it ran out of time or hit "
                "an internal error)."
            ),
            _(
                "Run the check again. If it keeps failing, look at the worker's log "
                "for check %(check)s."
            )
            % {"check": check_id},
        )
    return _check_record(check_id, outcome)


@atomic_with_retry
def _check_record(check_id: int, outcome: CheckOutcome) -> ConnectionCheck | None:
    periodic = ConnectionCheck.objects.filter(pk=check_id, kind=Kind.PERIODIC)
    # Lock order: a periodic check updates its connection's health, so the
    # connection is locked first, then the check.
    locked = (
        Connection.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk__in=periodic.values("connection_id"))
        .first()
    )
    check = (
        ConnectionCheck.objects.select_for_update(of=("self",))
        .select_related("connection__organization", "created_by", "config")
        .filter(pk=check_id)
        .first()
    )
    if check is None or check.status != Status.RUNNING:
        # Failed meanwhile (its deadline passed): that verdict stands.
        return check
    passed = outcome.passed
    check.status = Status.PASSED if passed else Status.FAILED
    check.steps = [step.as_dict() for step in outcome.steps]
    check.result = dict(outcome.summary)
    check.finished_at = timezone.now()
    check.save(update_fields=["status", "steps", "result", "finished_at"])
    connection = check.connection
    failed = [s.key for s in outcome.steps if s.status == FAILED]
    logger.info("Connection check %s %s", check.pk, check.status)
    if passed:
        # What the check just read is the IdP as it is now: sign-ins stop
        # using a cached discovery document that may predate a change.
        issuer = check.config.issuer_url
        transaction.on_commit(lambda: provider_cache_forget(connection.pk, issuer))
    if check.kind == Kind.PERIODIC:
        if locked is not None:
            _health_record(check, locked, passed=passed, failed=failed)
    else:
        audit(
            action="connection.check_finished",
            organization=connection.organization,
            actor=check.created_by,
            target=connection.name,
            details={
                "connection_id": connection.pk,
                "check_id": check.pk,
                "status": check.status,
                "failed_steps": failed,
            },
        )
    return check


def _health_record(
    check: ConnectionCheck, connection: Connection, *, passed: bool, failed: list[str]
) -> None:
    """Update the live connection's health (``connection`` is locked); audit
    and email a new failure."""
    if connection.live_id != check.config_id:
        return  # a newer configuration went live while this check ran
    before = connection.health
    after = Health.PASSING if passed else Health.FAILING
    if before == after:
        return
    connection.health = after
    connection.save(update_fields=["health"])
    org = check.connection.organization
    details = {
        "connection_id": connection.pk,
        "check_id": check.pk,
        "before": before,
        "after": after,
        "failed_steps": failed,
    }
    if after == Health.FAILING:
        audit(
            action="connection.health_failing",
            organization=org,
            actor=None,
            target=connection.name,
            details=details,
        )
        _email_owner_health_failing(check)
    else:
        audit(
            action="connection.health_recovered",
            organization=org,
            actor=None,
            target=connection.name,
            details=details,
        )


def _email_owner_health_failing(check: ConnectionCheck) -> None:
    """Tell the owner, through the outbox, that the live connection fails its
    checks; written with the health change, sent once it commits."""
    connection = check.connection
    org = connection.organization
    owner = User.objects.only("email").get(pk=org.owner_id)
    site = str(settings.SITE_URL).rstrip("/")
    context = {
        "organization": org,
        "connection": connection,
        "failed_steps": [
            s for s in check.steps if isinstance(s, dict) and s.get("status") == FAILED
        ],
        "check_url": site + check.get_absolute_url(),
        "connection_url": site
        + reverse("connection_detail", args=[org.login_path, connection.pk]),
    }
    email_enqueue(
        to=owner.email,
        subject=_("SSO connection '%(connection)s' of %(organization)s is failing")
        % {"connection": connection.name, "organization": org.name},
        text=render_to_string(
            "connections/email/connection_health_failing.txt", context
        ),
        html=render_to_string(
            "connections/email/connection_health_failing.html", context
        ),
        kind=HEALTH_EMAIL_KIND,
        organization=org,
        ref={"connection_id": connection.pk, "check_id": check.pk},
    )


@transaction.atomic
def connection_health_checks_start() -> list[int]:
    """Queue a periodic check of every live configuration; returns check ids.

    A connection whose previous periodic check is still under way is skipped.
    """
    busy = (
        ConnectionCheck.objects.filter(kind=Kind.PERIODIC, status__in=_IN_PROGRESS)
        .exclude(_overdue(timezone.now()))
        .values("connection_id")
    )
    connections = (
        Connection.objects.filter(live__isnull=False)
        .exclude(pk__in=busy)
        .select_related("live")
    )
    checks = ConnectionCheck.objects.bulk_create(
        [
            ConnectionCheck(
                connection=connection,
                config=connection.live,
                # The query keeps only connections with a live configuration.
                fingerprint=connection.live.fingerprint,  # type: ignore[union-attr]
                kind=Kind.PERIODIC,
            )
            for connection in connections
        ]
    )
    ids = [check.pk for check in checks]
    for check_id in ids:
        transaction.on_commit(partial(_enqueue_check, check_id))
    return ids


def checks_fail_stuck(*, now: datetime | None = None) -> int:
    """Fail every check past its deadline; returns how many (the beat sweep).

    A worker that died mid-check (or no worker at all) must never leave a
    check, and the page that follows it, waiting forever.
    """
    return _fail_overdue(ConnectionCheck.objects.all(), now=now)


def checks_fail_overdue(
    *,
    connection: Connection | None = None,
    organization_id: int | None = None,
    check_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Fail the checks of ``connection``, of every connection of the
    organization, or the one check, that are past their deadline; returns
    how many.

    Called where checks are read, so a page or a JSON poll shows a lost check
    as failed at once, with or without beat. One query when none is overdue.
    """
    checks = ConnectionCheck.objects.all()
    if connection is not None:
        checks = checks.filter(connection=connection)
    if organization_id is not None:
        checks = checks.filter(connection__organization_id=organization_id)
    if check_id is not None:
        checks = checks.filter(pk=check_id)
    return _fail_overdue(checks, now=now)


def _fail_overdue(checks: QuerySet[ConnectionCheck], *, now: datetime | None) -> int:
    now = now or timezone.now()
    stuck = checks.filter(_overdue(now)).values_list("pk", "status", "started_at")
    count = 0
    for check_id, status, started_at in list(stuck):
        if status == Status.QUEUED or started_at is None:
            detail = _("No worker picked the check up within %(time)s.") % {
                "time": _duration(_check_timeout())
            }
        else:
            detail = _(
                "The check did not finish within %(time)s: the worker running it "
                "stopped, or was stopped at the time limit."
            ) % {"time": _duration(_run_timeout())}
        fix = _(
            "Run the check again. If this keeps happening, make sure a Celery "
            "worker is running (celery -A config worker)."
        )
        if _check_fail(check_id, detail, fix) is not None:
            count += 1
    return count


def _duration(length: timedelta) -> str:
    seconds = round(length.total_seconds())
    if seconds < 120:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {
            "count": seconds
        }
    minutes = round(seconds / 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {
        "count": minutes
    }
