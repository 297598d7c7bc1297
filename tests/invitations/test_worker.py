"""The invitation email goes through Redis to the real worker, after commit."""

from __future__ import annotations

import time

import pytest

from invitations.models import Invitation
from invitations.services import invitations_create
from organizations.models import AuditEvent
from rolemapping.models import Membership


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the worker")


@pytest.mark.worker
def test_the_email_task_runs_in_the_worker_after_commit(celery_worker, org):
    owner = Membership.objects.select_related("role", "organization", "user").get(
        organization=org, user=org.owner
    )
    invitations_create(
        actor_membership=owner, emails="dev@acme.test", role_slug="member"
    )

    # The worker decrypts the sealed token, checks it against the stored hash,
    # sends (locmem in the worker's process) and records the delivery.
    wait_for(
        lambda: Invitation.objects.filter(email="dev@acme.test", send_count=1).exists()
    )
    assert AuditEvent.objects.filter(
        action="invitation.email_sent", target="dev@acme.test"
    ).exists()
