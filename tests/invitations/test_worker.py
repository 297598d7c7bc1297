"""The invitation email goes through the outbox and Redis to the real worker,
after commit; after a broker outage, the flush hands it over once Redis is back."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.models import Invitation
from invitations.services import invitations_create
from organizations.mail import emails_flush
from organizations.models import AuditEvent, OutboundEmail
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

    # The worker claims the outbox row, checks the link is still the one
    # stored, sends (locmem in the worker's process) and records the delivery.
    wait_for(
        lambda: Invitation.objects.filter(email="dev@acme.test", send_count=1).exists()
    )
    assert AuditEvent.objects.filter(
        action="invitation.email_sent", target="dev@acme.test"
    ).exists()
    email = OutboundEmail.objects.get()
    assert (email.kind, email.status, email.body_sealed) == ("invitation", "sent", "")


@pytest.mark.worker
def test_invitations_made_during_a_broker_outage_go_out_when_it_is_back(
    celery_worker, org, broker_down
):
    owner = Membership.objects.select_related("role", "organization", "user").get(
        organization=org, user=org.owner
    )
    invitations_create(
        actor_membership=owner,
        emails="ann@acme.test, bob@acme.test",
        role_slug="member",
    )
    assert broker_down.refused == 1
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"pending"}
    time.sleep(1)
    assert not Invitation.objects.filter(send_count__gt=0).exists()

    # Redis is back; a minute later the beat's flush queues what waited.
    broker_down.back()
    past = timezone.now() - timedelta(minutes=2)
    OutboundEmail.objects.update(created_at=past, next_attempt_at=past)
    assert emails_flush() == 2
    wait_for(lambda: Invitation.objects.filter(send_count=1).count() == 2)
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}
