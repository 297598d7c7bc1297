"""Handing a task to the broker from a request, without ever failing the request.

A broker that is down refuses at once; one that is frozen is cut off by the
connect, socket and publish-retry limits in ``config/settings.py`` (a few
seconds). Either way :func:`task_publish` logs it and answers False, and the
caller leaves a row that says what is still due (an outbox email, a failed
check, a domain not being checked) instead of raising.

After a refusal the process stops trying for ``BROKER_PUBLISH_PAUSE`` seconds
(10): the ninth click during an outage answers at once instead of waiting out
the same timeout, and a page that queues 200 emails waits once, not 200 times.
Whatever was not published is found again by the beat tasks.

Pages that want to say "queued, will be sent" rather than "sent" wrap the
service call in :func:`publish_watch`: tasks are published on commit, which
for a service's own transaction is before it returns, inside the ``with``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from celery import Task

__all__ = [
    "PublishWatch",
    "broker_pause_reset",
    "publish_watch",
    "task_publish",
]

logger = logging.getLogger(__name__)


@dataclass
class PublishWatch:
    """What the code inside :func:`publish_watch` tried to queue."""

    published: int = 0
    failed: int = 0


_watches: ContextVar[tuple[PublishWatch, ...]] = ContextVar(
    "organizations_publish_watches", default=()
)
_lock = threading.Lock()
_paused_until = 0.0


def _pause_seconds() -> float:
    return float(getattr(settings, "BROKER_PUBLISH_PAUSE", 10.0))


def broker_pause_reset() -> None:
    """Forget an earlier refusal: the next publish tries the broker again."""
    global _paused_until
    with _lock:
        _paused_until = 0.0


def _paused() -> bool:
    return time.monotonic() < _paused_until


def _pause() -> None:
    global _paused_until
    with _lock:
        _paused_until = time.monotonic() + _pause_seconds()


def _count(*, ok: bool) -> None:
    for watch in _watches.get():
        if ok:
            watch.published += 1
        else:
            watch.failed += 1


@contextmanager
def publish_watch() -> Iterator[PublishWatch]:
    """Count the tasks published, and those that could not be, inside the block."""
    watch = PublishWatch()
    token = _watches.set((*_watches.get(), watch))
    try:
        yield watch
    finally:
        _watches.reset(token)


def task_publish(task: Task[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Queue ``task(*args, **kwargs)``; False, logged, when the broker refuses.

    Never raises for the broker. When tasks run in-process (no broker
    configured), the task runs here and its own errors stay in its result.
    """
    if _paused():
        logger.warning(
            "Not queuing %s: the broker refused less than %ss ago",
            task.name,
            _pause_seconds(),
        )
        _count(ok=False)
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception as exc:  # kombu's OperationalError, redis' and socket errors
        logger.warning(
            "Could not queue %s: the broker is not reachable (%s: %s)",
            task.name,
            type(exc).__name__,
            exc,
        )
        _pause()
        _count(ok=False)
        return False
    _count(ok=True)
    return True
