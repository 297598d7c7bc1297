"""One organization's IdP that hangs (issue 16, item 4): sign-ins through it fail
fast with the sign-in error page once its circuit opens, a connection check still
reaches it, and other organizations' pages keep answering meanwhile.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client

from connections import outbound, outbound_guard
from connections.backend import OrganizationOIDCBackend
from connections.oidc.errors import OIDCError
from tests.connections.conftest import make_connection as make_checked_connection
from tests.factories import make_org

from .fakeidp import Reply
from .helpers import assert_refused, callback, make_connection, start_login

pytestmark = pytest.mark.django_db


def test_a_sign_in_meets_an_open_circuit_with_the_error_page_not_a_wait(
    client, acme, acme_connection, fake_idp, settings
):
    settings.OUTBOUND_CONNECT_TIMEOUT = 0.5
    settings.OUTBOUND_READ_TIMEOUT = 0.3
    fake_idp.token_reply = lambda seen: Reply(delay=3)
    for _ in range(3):  # each waits for the read timeout
        response = callback(client, fake_idp.issuer, start_login(client)["state"])
        assert (
            "did not answer within" in assert_refused(client, response, "token").detail
        )

    request = start_login(client)
    started = time.monotonic()
    response = callback(client, fake_idp.issuer, request["state"])
    elapsed = time.monotonic() - started

    event = assert_refused(client, response, "idp_paused")
    assert response.status_code == 503
    assert elapsed < 0.25
    assert fake_idp.count("/token") == 3  # the fourth was never sent
    assert (
        f"The identity provider at 127.0.0.1:{fake_idp.server.server_address[1]} did "
        "not answer the last 3 requests; sign-in through it is paused for 30 more "
        "seconds." in event.detail
    )
    page = response.content.decode()
    assert "Acme Inc&#x27;s identity provider is not answering right now" in page
    assert f"/sso/login/{acme.login_path}/" in page  # "sign in again"


def test_a_connection_check_goes_through_an_open_circuit_and_closes_it(
    idp, owner_membership, run_check, settings
):
    connection = make_checked_connection(owner_membership, idp.issuer)
    settings.OUTBOUND_READ_TIMEOUT = 0.3
    control = idp.http_session()
    control.post(f"{idp.origin}/__test__/latency", json={"backchannel_ms": 2000})
    for _ in range(3):
        with pytest.raises(outbound.OutboundError):
            outbound.fetch(idp.discovery_url)
    control.post(f"{idp.origin}/__test__/latency", json={"backchannel_ms": 0})
    with pytest.raises(outbound.OutboundError) as error:
        outbound.fetch(idp.discovery_url)
    assert error.value.kind == "circuit_open"

    check = run_check(owner_membership, connection)

    assert check.status == "passed", check.steps
    assert outbound_guard.state(idp.discovery_url) == "closed"
    assert outbound.fetch(idp.discovery_url).status == 200


# ---------------------------------------------------------------------------
# Tenant isolation inside one gunicorn worker


GTHREADS = 4  # a gthread worker's threads (gunicorn.conf.py ships 8)
A_SIGN_INS = 8  # more than the threads: everyone at org A is trying
B_PAGES = 4
READ_TIMEOUT = 1.5


def _org_b_latencies(
    backend_for_a: OrganizationOIDCBackend, b_clients: list[Client]
) -> tuple[list[float], list[str]]:
    """Org A's token requests, then org B's console pages, queued in that
    order on a worker's thread pool; returns each page's time from being
    queued to being answered, and how each of A's sign-ins failed."""

    def token_request() -> str:
        try:
            backend_for_a.get_token({"grant_type": "authorization_code", "code": "c"})
        except OIDCError as exc:
            return exc.detail
        finally:
            connections.close_all()
        return "answered"

    def console_page(b_client: Client, queued: float) -> float:
        try:
            response = b_client.get("/orgs/globex/members/")
            assert response.status_code == 200
            return time.monotonic() - queued
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=GTHREADS) as pool:
        a_results = [pool.submit(token_request) for _ in range(A_SIGN_INS)]
        b_results: list[Future[float]] = [
            pool.submit(console_page, b_client, time.monotonic())
            for b_client in b_clients
        ]
        return [f.result() for f in b_results], [f.result() for f in a_results]


@pytest.mark.django_db(transaction=True)
def test_org_b_console_answers_while_org_a_idp_hangs(acme, fake_idp, settings):
    settings.OUTBOUND_CONNECT_TIMEOUT = 0.5
    settings.OUTBOUND_READ_TIMEOUT = READ_TIMEOUT
    connection_a = make_connection(acme, issuer=fake_idp.issuer)
    backend_for_a = OrganizationOIDCBackend(connection_a.live)
    backend_for_a.provider_metadata()  # discovery is cached, as in a warm sign-in
    fake_idp.token_reply = lambda seen: Reply(delay=6)  # org A's IdP hangs
    globex = make_org("globex", name="Globex")
    b_clients = []
    for _ in range(B_PAGES):
        b_client = Client()
        b_client.force_login(
            globex.owner, backend="accounts.backends.EmailPasswordBackend"
        )
        b_clients.append(b_client)

    # Without the guard, A's hung requests take every thread, twice over.
    settings.OUTBOUND_MAX_CONCURRENT_PER_HOST = 0
    settings.OUTBOUND_CIRCUIT_FAILURES = 0
    unguarded, _ = _org_b_latencies(backend_for_a, b_clients)
    assert min(unguarded) >= READ_TIMEOUT * 0.9, unguarded

    # With it, two of A's requests wait and the rest are refused at once.
    settings.OUTBOUND_MAX_CONCURRENT_PER_HOST = 2
    settings.OUTBOUND_CONCURRENCY_WAIT = 0.1
    settings.OUTBOUND_CIRCUIT_FAILURES = 3
    guarded, a_outcomes = _org_b_latencies(backend_for_a, b_clients)

    assert max(guarded) < READ_TIMEOUT * 0.66, guarded
    assert sum("did not answer within" in o for o in a_outcomes) == 2, a_outcomes
    assert sum("is slow: 2 requests" in o for o in a_outcomes) == 6, a_outcomes
