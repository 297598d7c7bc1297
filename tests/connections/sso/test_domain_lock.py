"""A sign-in reads its domain's state inside its own transaction, locked
(issue 16, item 8).

It used to read 'verified' with a plain read and go on: a domain that stopped
being verified while the sign-in ran (its change not yet committed) still let
that person in, up to a second later. Now the read is ``FOR SHARE`` in the
sign-in's transaction, alongside the membership lock: a change waits for the
sign-ins under way, and a sign-in that comes during a change waits for it and
reads the new state.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from connections.services import sso
from connections.services.sso import SignInRefused, signin_complete
from domains import services as domain_services
from domains.models import Domain
from domains.services import domain_remove
from rolemapping.models import Membership
from tests.fixtures.postgres import postgres_configured

from .helpers import make_connection, set_default_role, verify_domain

ISSUER = "https://idp.acme.example"


@pytest.fixture
def setup(org):
    domain = verify_domain(org, "acme.test")
    set_default_role(org, "member")
    connection = make_connection(org, issuer=ISSUER)
    return org, connection, domain


def _sign_in(org, connection, email="ann@acme.test"):
    return signin_complete(
        organization=org,
        connection=connection,
        config=connection.live,
        claims={
            "iss": ISSUER,
            "sub": f"sub-{email}",
            "email": email,
            "email_verified": True,
        },
    )


@pytest.mark.django_db
def test_the_domain_is_read_in_the_sign_in_transaction_before_the_membership_lock(
    setup,
):
    org, connection, _domain = setup
    _sign_in(org, connection)  # a member now: the next sign-in locks a membership

    with CaptureQueriesContext(db_connection) as ctx:
        _sign_in(org, connection)

    sql = [q["sql"] for q in ctx.captured_queries]
    begin = next(i for i, s in enumerate(sql) if s.startswith("SAVEPOINT"))
    domain = next(i for i, s in enumerate(sql) if '"domains_domain"' in s)
    membership = next(
        i for i, s in enumerate(sql) if s.startswith("SELECT") and "membership" in s
    )
    end = next(i for i, s in enumerate(sql) if s.startswith("RELEASE SAVEPOINT"))
    assert begin < domain < membership < end
    # One read of the domain, the one that decides.
    assert sum('"domains_domain"' in s for s in sql) == 1
    if postgres_configured():
        assert sql[domain].endswith("FOR SHARE")
        assert "FOR UPDATE" in sql[membership]


def _in_thread(target):
    outcome = {}

    def run():
        try:
            outcome["result"] = target()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            db_connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_until_blocked(thread: threading.Thread) -> None:
    """Until a backend of this test database waits for a row lock, or the
    thread is done (it was not held back: the assertion after says so)."""
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_a_sign_in_during_the_domain_s_removal_waits_and_is_refused(
    transactional_db, setup, monkeypatch
):
    org, connection, domain = setup
    owner = Membership.objects.select_related("role", "user", "organization").get(
        organization=org, user=org.owner
    )
    removing, commit = threading.Event(), threading.Event()
    real_audit = domain_services.audit

    def audit_then_hold(**kwargs):
        event = real_audit(**kwargs)
        removing.set()  # the domain is locked, its removal not committed
        commit.wait(timeout=20)
        return event

    monkeypatch.setattr(domain_services, "audit", audit_then_hold)
    remover, removed = _in_thread(
        lambda: domain_remove(actor_membership=owner, domain=domain)
    )
    assert removing.wait(timeout=10)

    signer, signed = _in_thread(lambda: _sign_in(org, connection))
    _wait_until_blocked(signer)
    held_back = signer.is_alive()
    commit.set()
    remover.join(timeout=20)
    signer.join(timeout=20)

    assert removed == {"result": None}
    assert held_back, f"the sign-in did not wait for the removal: {signed}"
    error = signed.get("error")
    assert isinstance(error, SignInRefused), signed
    assert error.step == "email_domain"
    assert not User.objects.filter(email="ann@acme.test").exists()


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_a_domain_change_waits_for_the_sign_in_under_way(
    transactional_db, setup, monkeypatch
):
    org, connection, domain = setup
    signing, finish = threading.Event(), threading.Event()
    real_record = sso.signin_event_record

    def record_then_hold(**kwargs):
        event = real_record(**kwargs)
        signing.set()  # the domain read, the member added, not committed
        finish.wait(timeout=20)
        return event

    monkeypatch.setattr(sso, "signin_event_record", record_then_hold)
    signer, signed = _in_thread(lambda: _sign_in(org, connection))
    assert signing.wait(timeout=10)

    def fail_domain() -> None:
        with transaction.atomic():
            row = Domain.objects.select_for_update().get(pk=domain.pk)
            row.status = Domain.Status.FAILED
            row.save(update_fields=["status"])

    changer, changed = _in_thread(fail_domain)
    _wait_until_blocked(changer)
    held_back = changer.is_alive()
    finish.set()
    signer.join(timeout=20)
    changer.join(timeout=20)

    assert held_back, "the domain changed under a sign-in that had read it"
    assert "result" in signed, signed
    assert changed == {"result": None}
    domain.refresh_from_db()
    assert domain.status == Domain.Status.FAILED
