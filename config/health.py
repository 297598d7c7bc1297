"""Liveness and readiness probes for the load balancer and the orchestrator."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection as db_connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from organizations.workers import worker_seen


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


WORKER_PING_TIMEOUT = 1.0


def _database() -> str:
    try:
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001  (any failure means not ready)
        return "unavailable"
    return "ok"


def _cache() -> str:
    # Sessions, sign-in state and single-use markers live here. Bounded by
    # the cache's socket timeouts (REDIS_TIMEOUT).
    probe = f"readyz:{uuid.uuid4().hex}"
    try:
        cache.set(probe, "1", 10)
        answered = cache.get(probe)
        cache.delete(probe)
    except Exception:  # noqa: BLE001
        return "unavailable"
    return "ok" if answered == "1" else "unavailable"


def _broker() -> str:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(
                max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT
            )
    except Exception:  # noqa: BLE001
        return "unavailable"
    return "ok"


def _worker() -> str:
    """Whether a Celery worker is there: its heartbeat in the shared cache
    (organizations.workers), stamped by every worker every few seconds, so a
    probe costs one cache read and no broadcast to every worker. Without a
    fresh stamp (none yet, or a cache the workers do not share), a ping
    through the broker decides: a real round trip, bounded by
    WORKER_PING_TIMEOUT, never a guess from a queue's length."""
    from config.celery import app

    if worker_seen():
        return "ok"
    try:
        # limit=1: answer as soon as one worker replies (milliseconds), not
        # after waiting the whole timeout for every worker.
        replies = app.control.ping(timeout=WORKER_PING_TIMEOUT, limit=1)
    except Exception:  # noqa: BLE001
        return "unavailable"
    return "ok" if replies else "no worker answered"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Every configured dependency, each bounded: the database, the cache, and
    with a broker the broker and a worker. 503 names what is down."""
    checks: dict[str, str] = {"database": _database(), "cache": _cache()}
    if settings.CELERY_BROKER_URL:
        checks["broker"] = _broker()
        if checks["broker"] == "ok":
            checks["worker"] = _worker()
        else:
            checks["worker"] = "unknown: the broker is down"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
]
