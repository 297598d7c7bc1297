"""Whether a Celery worker is there to run what the pages queue.

Every worker stamps the shared cache, under its queue's name (CELERY_QUEUE),
every ``WORKER_HEARTBEAT_INTERVAL`` seconds (a bootstep in
``config/celery.py``: the worker's own timer, so it needs no beat and no
task round trip). Pages that wait on a queued job (a
connection check, a domain verification) read the stamp: a job queued more
than ``WORKER_WAIT_SECONDS`` ago while no worker stamped within
``WORKER_HEARTBEAT_MAX_AGE`` seconds shows a banner that names the cause,
instead of "Queued" forever. ``/readyz`` reads the same stamp.

It lives in organizations because every app that queues work sits above it,
as the broker's publishing (``organizations.broker``) does.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

__all__ = [
    "HEARTBEAT_KEY",
    "worker_heartbeat_age",
    "worker_heartbeat_interval",
    "worker_heartbeat_stamp",
    "worker_missing_for",
    "worker_missing_sentence",
    "worker_seen",
]

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "workers:heartbeat"


def _key() -> str:
    """One stamp per queue (CELERY_QUEUE): a worker consuming another queue
    never runs this deployment's tasks, so it must not count as there. Read
    from the settings, which web nodes and workers share, not from Celery's
    current app, which is per thread (gunicorn's threads would see a default
    app's queue)."""
    return f"{HEARTBEAT_KEY}:{settings.CELERY_TASK_DEFAULT_QUEUE}"


def worker_heartbeat_interval() -> float:
    return float(getattr(settings, "WORKER_HEARTBEAT_INTERVAL", 5.0))


def _max_age() -> float:
    return float(
        getattr(settings, "WORKER_HEARTBEAT_MAX_AGE", 3 * worker_heartbeat_interval())
    )


def _wait_seconds() -> float:
    return float(getattr(settings, "WORKER_WAIT_SECONDS", 5.0))


def worker_heartbeat_stamp(now: float | None = None) -> None:
    """Record that a worker is alive now. Never raises: a cache outage must not
    stop the worker, and /readyz reports the cache itself."""
    try:
        cache.set(_key(), now if now is not None else time.time(), 3600)
    except Exception:  # noqa: BLE001
        logger.warning("Worker heartbeat not recorded: the cache did not answer.")


def worker_heartbeat_age(now: float | None = None) -> float | None:
    """Seconds since a worker last stamped; None for never (or no cache)."""
    try:
        stamped = cache.get(_key())
    except Exception:  # noqa: BLE001
        return None
    if not isinstance(stamped, int | float):
        return None
    return max(0.0, (now if now is not None else time.time()) - stamped)


def worker_seen(now: float | None = None) -> bool:
    """Whether a worker stamped within WORKER_HEARTBEAT_MAX_AGE seconds."""
    age = worker_heartbeat_age(now)
    return age is not None and age <= _max_age()


def _tasks_need_a_worker() -> bool:
    # Without a broker, tasks run in the request that queues them.
    return bool(settings.CELERY_BROKER_URL) and not settings.CELERY_TASK_ALWAYS_EAGER


def worker_missing_for(queued_at: datetime, now: datetime | None = None) -> bool:
    """Whether a job queued at ``queued_at`` and not started waits for a
    worker that is not there: queued WORKER_WAIT_SECONDS ago or more, and no
    worker has stamped recently."""
    if not _tasks_need_a_worker():
        return False
    waited = ((now or timezone.now()) - queued_at).total_seconds()
    return waited >= _wait_seconds() and not worker_seen()


def worker_missing_sentence() -> str:
    """The banner: what is wrong, and who fixes it how."""
    return _(
        "No task worker is running: this was queued, but no Celery worker has "
        "reported in the last %(seconds)d seconds, so nothing will run it. "
        "Whoever runs this console must start one (celery -A config worker); "
        "the job then runs at once. If none starts, it ends as failed and you "
        "can try again."
    ) % {"seconds": round(_max_age())}
