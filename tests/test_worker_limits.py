"""Every task is bounded, acknowledged when it ends, and kept by Redis for
longer than a worker may hold it (issue 16, item 7).

acks_late means a task whose worker died is delivered again, once Redis has
seen it unacknowledged for ``visibility_timeout``. If that were shorter than a
task may legitimately be held (waiting for its retry countdown, then running
up to its hard time limit), Redis would hand a live task to a second worker.
"""

from __future__ import annotations

from celery import Task

from config.celery import app
from domains.tasks import RETRY_DELAYS


def _project_tasks() -> dict[str, Task]:
    app.loader.import_default_modules()
    return {
        name: task for name, task in app.tasks.items() if not name.startswith("celery.")
    }


def test_every_task_has_time_limits_and_is_acknowledged_late():
    tasks = _project_tasks()
    assert "connections.tasks.connection_check_run" in tasks
    for name, task in tasks.items():
        hard = task.time_limit or app.conf.task_time_limit
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        assert soft and hard and soft < hard, name
        assert task.acks_late, name


def test_redis_keeps_a_task_longer_than_any_worker_may_hold_it():
    tasks = _project_tasks().values()
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    longest_run = max(task.time_limit or app.conf.task_time_limit for task in tasks)
    countdowns = [*RETRY_DELAYS] + [
        # Celery caps an autoretry backoff at 600 s unless the task says otherwise.
        getattr(task, "retry_backoff_max", 600)
        for task in tasks
        if getattr(task, "retry_backoff", False)
    ]
    assert visibility > max(countdowns) + longest_run
