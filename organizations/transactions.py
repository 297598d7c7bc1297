"""Transactions that take several row locks: one order, and one retry.

Every service takes its row locks in the order of docs/ARCHITECTURE.md ("Lock
order"), so two of them never wait for each other in a cycle. PostgreSQL still
picks a deadlock victim when something outside that order meets them (a lock
taken by hand, a future service that gets it wrong); ``atomic_with_retry``
runs the victim's whole transaction once more instead of answering 500.

Only the transaction is repeated: a side effect belongs in
``transaction.on_commit``, whose callbacks Django drops when the block rolls
back, so an email or a task is sent once, by the attempt that committed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction

__all__ = ["DEADLOCK_SQLSTATE", "atomic_with_retry", "is_deadlock"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# PostgreSQL's "deadlock_detected" (Appendix A, class 40: transaction rollback).
DEADLOCK_SQLSTATE = "40P01"


def is_deadlock(exc: BaseException) -> bool:
    """Whether ``exc`` is Django's OperationalError for a transaction that
    PostgreSQL rolled back to break a deadlock (psycopg's DeadlockDetected)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    # psycopg 3 names it ``sqlstate``; psycopg2 named it ``pgcode``.
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return code == DEADLOCK_SQLSTATE


def atomic_with_retry(func: Callable[P, R]) -> Callable[P, R]:
    """``transaction.atomic``, run once more if it was a deadlock's victim.

    Retried only as the outermost transaction: inside a caller's
    ``atomic`` the whole outer transaction is what PostgreSQL rolled back,
    and only its owner can run it again, so the error goes on up.
    """
    atomic_func = transaction.atomic(func)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if transaction.get_connection().in_atomic_block:
            return atomic_func(*args, **kwargs)
        try:
            return atomic_func(*args, **kwargs)
        except OperationalError as exc:
            if not is_deadlock(exc):
                raise
            logger.warning(
                "%s was a deadlock's victim; running it once more",
                func.__qualname__,
            )
        return atomic_func(*args, **kwargs)

    return wrapper
