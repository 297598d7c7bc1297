"""Verify now, through Redis, to the real Celery worker and back."""

from __future__ import annotations

import time

import pytest
from celery.result import AsyncResult

from domains.models import Domain
from domains.services import domain_add, domain_record
from domains.tasks import domain_verify
from tests.domains.conftest import owner_membership


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the worker")


@pytest.mark.worker
def test_verify_now_goes_through_redis_to_the_worker(
    celery_worker, dns_zone, owner_client, org
):
    domain = domain_add(actor_membership=owner_membership(org), name="acme.test")
    txt_name, txt_value = domain_record(domain)
    dns_zone.set_txt(txt_name, txt_value)
    poll = f"/orgs/acme/domains/{domain.pk}/verify/"

    response = owner_client.post(poll)
    assert response.status_code == 302

    # The page's poller sees "checking" until the worker reports.
    state = wait_for(
        lambda: (
            data
            if (data := owner_client.get(poll, HTTP_ACCEPT="application/json").json())[
                "status"
            ]
            != "checking"
            else None
        )
    )
    assert state["status"] == "verified"
    assert dns_zone.queries == [txt_name]
    domain.refresh_from_db()
    assert domain.status == Domain.Status.VERIFIED

    # A task sent directly is handed to the broker (not run here) and the
    # worker asks the DNS server again.
    result = domain_verify.delay(domain.pk)
    assert isinstance(result, AsyncResult)  # not an EagerResult
    wait_for(lambda: len(dns_zone.queries) == 2)
    assert dns_zone.queries == [txt_name, txt_name]
