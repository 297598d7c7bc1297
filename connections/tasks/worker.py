import os
import socket

from celery import shared_task

__all__ = ["worker_identify"]


@shared_task(name="connections.tasks.worker_identify", soft_time_limit=5, time_limit=10)
def worker_identify() -> dict:
    """Say which process ran the task: proves the broker path end to end."""
    return {"pid": os.getpid(), "host": socket.gethostname()}
