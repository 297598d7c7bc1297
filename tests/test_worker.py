import os

import pytest
from celery.result import AsyncResult

from config.celery import worker_identify


@pytest.mark.worker
def test_a_task_goes_through_redis_to_a_separate_worker(celery_worker):
    result = worker_identify.delay()

    assert isinstance(result, AsyncResult)  # not an EagerResult
    reply = result.get(timeout=20)
    assert reply["pid"] != os.getpid()
    assert reply["pid"] != celery_worker["pid"]  # a prefork child of the worker
