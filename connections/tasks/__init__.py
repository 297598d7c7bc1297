"""Celery tasks: transport only. Each takes ids, re-reads the row and calls one
service. Every task has an explicit name so the beat schedule can refer to it.
"""

from .checks import *  # noqa: F403
from .domains import *  # noqa: F403
from .invitations import *  # noqa: F403
from .worker import *  # noqa: F403
