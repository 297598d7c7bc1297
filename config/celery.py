"""The Celery app. Settings come from Django's settings with the CELERY_ prefix."""

import os
import socket
from typing import Any

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Stamp the shared cache when the worker starts and every few seconds
    after (organizations.workers): pages and /readyz read whether a worker is
    there without a round trip through the broker. The worker's own timer
    runs it, in the main process, as Celery's bootstep guide does."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        from organizations.workers import (
            worker_heartbeat_interval,
            worker_heartbeat_stamp,
        )

        worker_heartbeat_stamp()
        self.tref = worker.timer.call_repeatedly(
            worker_heartbeat_interval(), worker_heartbeat_stamp, priority=10
        )

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


app.steps["worker"].add(WorkerHeartbeat)


@app.task(name="config.worker_identify", soft_time_limit=5, time_limit=10)
def worker_identify() -> dict:
    """Say which process ran the task: proves the broker path end to end."""
    return {"pid": os.getpid(), "host": socket.gethostname()}
