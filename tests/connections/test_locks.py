"""Publish, edit and check start at once on PostgreSQL (issue 16, item 1).

Publishing locked the organization and then the connection; an edit or a check
start locked the connection and then, through its audit row's foreign key,
needed a share lock on the organization: PostgreSQL found the cycle and killed
one of them, and that request answered 500. These run the three services in
threads, each on its own database connection, with every lock really taken.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection as db_connection

from connections.models import Connection, ConnectionCheck
from connections.services import checks as check_services
from connections.services import connections as connection_services
from connections.services.checks import connection_check_start
from connections.services.connections import (
    PublishBlocked,
    connection_publish,
    connection_update,
)
from organizations.models import AuditEvent
from rolemapping.models import Membership
from tests.connections.conftest import make_connection, make_ready, passed_check

ISSUER = "https://acme.okta.example"
ROUNDS = 15

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


def _edit(membership: Membership, connection: Connection, client_id: str) -> None:
    draft = connection.draft
    assert draft is not None
    connection_update(
        actor_membership=membership,
        connection=connection,
        name=connection.name,
        issuer_url=draft.issuer_url,
        client_id=client_id,
        scopes=draft.scopes,
        groups_claim=draft.groups_claim,
        email_claim=draft.email_claim,
        leeway_seconds=draft.leeway_seconds,
        idp_logout=draft.idp_logout,
        provider=connection.provider,
    )


@pytest.fixture
def slow_audit(monkeypatch):
    """Each audit row is written 50 ms later, with the service's row locks
    held: the window in which the other request takes its first lock. Under
    load a request is slowed anywhere; here it is slowed where it matters."""

    def delayed(real):
        def audit(**kwargs):
            time.sleep(0.05)
            return real(**kwargs)

        return audit

    for module in (connection_services, check_services):
        monkeypatch.setattr(module, "audit", delayed(module.audit))


@pytest.fixture
def no_enqueue(monkeypatch):
    """Checks are started, not run: the IdP is not what this is about."""
    monkeypatch.setattr(check_services, "_enqueue_check", lambda check_id: None)


def _in_threads(*targets) -> list[tuple[str, object]]:
    """Run each target in its own thread and database connection, all released
    at once; returns (name, result or exception) in the order given."""
    gate = threading.Barrier(len(targets))
    results: list[tuple[str, object]] = [("", None)] * len(targets)

    def run(position: int, name: str, target) -> None:
        try:
            gate.wait()
            results[position] = (name, target())
        except Exception as exc:
            results[position] = (name, exc)
        finally:
            db_connection.close()

    threads = [
        threading.Thread(target=run, args=(position, target.__name__, target))
        for position, target in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_publish_edit_and_check_at_once_never_fail_and_keep_the_data_whole(
    transactional_db, org, owner, owner_membership, slow_audit, no_enqueue, caplog
) -> None:
    connection = make_connection(owner_membership, ISSUER)
    make_ready(org, connection, owner)
    passed_check(connection)
    connection_publish(
        actor_membership=owner_membership, connection=connection, confirm="acme"
    )
    outcomes: Counter[str] = Counter()
    errors: list[str] = []

    for n in range(ROUNDS):
        # A fresh draft with a passing check: publishable until the edit lands.
        connection.refresh_from_db()
        _edit(owner_membership, connection, f"round-{n}")
        connection.refresh_from_db()
        tested = connection.draft_id
        passed_check(connection)
        last_audit = AuditEvent.objects.order_by("-id").values_list("id", flat=True)[0]

        def publish():
            return connection_publish(
                actor_membership=owner_membership,
                connection=Connection.objects.get(pk=connection.pk),
                confirm="acme",
            )

        def edit():
            _edit(
                owner_membership,
                Connection.objects.select_related("draft").get(pk=connection.pk),
                f"edited-{n}",
            )

        def check():
            return connection_check_start(
                actor_membership=owner_membership,
                connection=Connection.objects.get(pk=connection.pk),
            )

        results = dict(_in_threads(publish, edit, check))

        published = isinstance(results["publish"], Connection)
        for name, result in results.items():
            if name == "publish" and isinstance(result, PublishBlocked):
                # The edit committed first: its draft was never tested.
                assert "draft_changed_since_check" in result.reasons
                outcomes["publish refused: draft changed"] += 1
            elif isinstance(result, Exception):
                errors.append(f"round {n}, {name}: {result!r}")
            else:
                outcomes[f"{name} done"] += 1

        connection.refresh_from_db()
        draft = connection.draft
        assert draft is not None
        # The edit always lands; the live configuration is the tested draft
        # when the publish won, and the previous one otherwise.
        if not isinstance(results["edit"], Exception):
            assert draft.client_id == f"edited-{n}"
        assert (connection.live_id == tested) is published
        check_row = results["check"]
        if isinstance(check_row, ConnectionCheck):
            assert check_row.config_id in (tested, connection.draft_id)
        # One audit row for each change that happened, none for the others.
        actions = Counter(
            AuditEvent.objects.filter(pk__gt=last_audit).values_list(
                "action", flat=True
            )
        )
        assert actions["connection.published"] == int(published)
        assert actions["connection.updated"] == int(
            not isinstance(results["edit"], Exception)
        )
        assert actions["connection.check_started"] == int(
            isinstance(check_row, ConnectionCheck)
        )

    assert errors == [], f"{len(errors)} errors in {ROUNDS} rounds: {errors}"
    # The lock order is what keeps them apart, not the retry of a victim.
    assert "deadlock" not in caplog.text
    assert outcomes["edit done"] == ROUNDS
    assert outcomes["check done"] == ROUNDS
    assert (
        outcomes["publish done"] + outcomes["publish refused: draft changed"] == ROUNDS
    )
