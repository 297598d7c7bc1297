"""The Celery app. Settings come from Django's settings with the CELERY_ prefix."""

import os
import socket

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.worker_identify", soft_time_limit=5, time_limit=10)
def worker_identify() -> dict:
    """Say which process ran the task: proves the broker path end to end."""
    return {"pid": os.getpid(), "host": socket.gethostname()}
