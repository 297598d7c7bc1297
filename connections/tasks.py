"""Connection checks on the worker: one run, the hourly health pass, the sweep."""

from __future__ import annotations

import logging

from celery import shared_task

from connections.services import checks as services
from connections.services.secret_expiry import secret_expiry_reminders_send

__all__ = [
    "checks_fail_stuck",
    "connection_check_run",
    "connections_health_check_all",
    "secret_expiry_remind",
]

logger = logging.getLogger(__name__)


# The eight steps make at most three fetches, each bounded by the outbound
# timeouts (8 s by default), plus DNS look-ups: well inside the soft limit (50 s).
# Past the hard limit the check's deadline fails it (services.checks). Not
# retried: a failed check is a result to show, and the owner can run it again.
@shared_task(
    name="connections.tasks.connection_check_run",
    soft_time_limit=services.CHECK_SOFT_TIME_LIMIT,
    time_limit=services.CHECK_TIME_LIMIT,
    ignore_result=True,
)
def connection_check_run(check_id: int) -> str:
    """Run one queued connection check; quiet when it is gone or already ran."""
    check = services.connection_check_run(check_id=check_id)
    if check is None:
        logger.info("Connection check %s: nothing to do", check_id)
        return "skipped"
    return check.status


@shared_task(
    name="connections.tasks.connections_health_check_all",
    soft_time_limit=30,
    time_limit=45,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    max_retries=3,
    ignore_result=True,
)
def connections_health_check_all() -> int:
    """Hourly: queue a periodic check of every live connection."""
    return len(services.connection_health_checks_start())


@shared_task(
    name="connections.tasks.checks_fail_stuck",
    soft_time_limit=30,
    time_limit=45,
    ignore_result=True,
)
def checks_fail_stuck() -> int:
    """Every minute: fail checks a dead or missing worker left behind (pages
    that show a check fail it themselves when its deadline has passed)."""
    return services.checks_fail_stuck()


@shared_task(
    name="connections.tasks.secret_expiry_remind",
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def secret_expiry_remind() -> int:
    """Daily: email owners whose client secret expires in 30, 7 or 1 days
    (each reminder once)."""
    return secret_expiry_reminders_send()
