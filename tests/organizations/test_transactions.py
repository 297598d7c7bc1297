"""atomic_with_retry: a deadlock's victim is run once more, nothing else is."""

from __future__ import annotations

import threading

import psycopg.errors
import pytest
from django.db import IntegrityError, OperationalError, transaction
from django.db import connection as db_connection

from organizations.models import AuditEvent, Organization
from organizations.transactions import atomic_with_retry, is_deadlock
from tests.factories import make_org


def _deadlock() -> OperationalError:
    """What Django raises when PostgreSQL breaks a deadlock: its own
    OperationalError, caused by psycopg's DeadlockDetected."""
    try:
        try:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        except psycopg.Error as exc:
            raise OperationalError(*exc.args) from exc
    except OperationalError as wrapped:
        return wrapped


class _Psycopg2Style(Exception):
    pgcode = "40P01"


def test_a_deadlock_is_told_by_the_cause_sqlstate():
    assert is_deadlock(_deadlock())
    assert is_deadlock(_wrapped(_Psycopg2Style()))
    assert not is_deadlock(OperationalError("database is locked"))
    assert not is_deadlock(_wrapped(psycopg.errors.LockNotAvailable("nowait")))
    assert not is_deadlock(IntegrityError("duplicate key"))


def _wrapped(cause: Exception) -> OperationalError:
    error = OperationalError(str(cause))
    error.__cause__ = cause
    return error


def test_the_victim_is_run_again_and_only_the_commit_s_side_effects_happen(
    transactional_db, caplog
) -> None:
    org = make_org("acme")
    attempts: list[int] = []
    sent: list[int] = []

    @atomic_with_retry
    def rename(name: str) -> str:
        attempts.append(len(attempts) + 1)
        Organization.objects.filter(pk=org.pk).update(name=f"{name} {len(attempts)}")
        AuditEvent.objects.create(organization=org, action="test.renamed")
        transaction.on_commit(lambda: sent.append(len(attempts)))
        if len(attempts) == 1:
            raise _deadlock()
        return name

    assert rename("Acme") == "Acme"
    assert attempts == [1, 2]
    org.refresh_from_db()
    assert org.name == "Acme 2"
    # The first attempt was rolled back whole: one audit row, one side effect.
    assert AuditEvent.objects.filter(action="test.renamed").count() == 1
    assert sent == [2]
    assert "deadlock's victim; running it once more" in caplog.text


def test_a_second_deadlock_goes_up(transactional_db):
    attempts = []

    @atomic_with_retry
    def always():
        attempts.append(1)
        raise _deadlock()

    with pytest.raises(OperationalError) as raised:
        always()
    assert is_deadlock(raised.value)
    assert len(attempts) == 2


def test_other_errors_are_not_retried(transactional_db):
    attempts = []

    @atomic_with_retry
    def locked():
        attempts.append(1)
        raise OperationalError("database is locked")

    with pytest.raises(OperationalError):
        locked()
    assert attempts == [1]


def test_inside_a_caller_s_transaction_the_caller_decides(transactional_db):
    attempts = []

    @atomic_with_retry
    def inner():
        attempts.append(1)
        raise _deadlock()

    with pytest.raises(OperationalError), transaction.atomic():
        inner()
    assert attempts == [1]


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_a_real_deadlock_on_postgresql_is_survived_by_both(
    transactional_db, caplog
) -> None:
    """Two transactions lock two rows in opposite orders: PostgreSQL kills one,
    which runs again once the other has committed."""
    first, second = make_org("first"), make_org("second")
    both_hold_one = threading.Barrier(2)
    done: list[str] = []
    errors: list[BaseException] = []

    def locker(name: str, a: Organization, b: Organization):
        attempts = []

        @atomic_with_retry
        def lock_both() -> None:
            attempts.append(1)
            Organization.objects.select_for_update().get(pk=a.pk)
            if len(attempts) == 1:
                both_hold_one.wait(timeout=10)
            Organization.objects.select_for_update().get(pk=b.pk)

        def run() -> None:
            try:
                lock_both()
                done.append(name)
            except BaseException as exc:
                errors.append(exc)
            finally:
                db_connection.close()

        return run

    threads = [
        threading.Thread(target=locker("one", first, second)),
        threading.Thread(target=locker("two", second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(done) == ["one", "two"]
    assert caplog.text.count("deadlock's victim") == 1
