"""The worker's settings in the test run: the test settings, not eager."""

from tests.settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
