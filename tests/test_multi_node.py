"""Two app nodes behind one address share everything a sign-in needs (issue 16, 11).

Production runs several gunicorn nodes against one PostgreSQL and one Redis, and
the load balancer may send each request of one sign-in to a different node. Here
node 1 is the end-to-end stack's gunicorn (tests/fixtures/e2e.py, with its Celery
worker) and node 2 a second gunicorn started with the same environment: the same
SITE_URL, keys, database, Redis cache (sessions, sign-in state, single-use
markers) and broker queue. The "browser" is a ``requests.Session``; its cookies
are per host, not per port, so both nodes receive them, as behind a load
balancer. The IdP always redirects to SITE_URL (node 1); a test sends that
redirect to node 2 by changing the port.

Marked ``stack``: the run says it left them to CI when PostgreSQL, a broker or a
Redis cache is not configured (E2E_REQUIRED makes them fail instead). Run:
E2E_REQUIRED=1 DATABASE_URL=postgres://... CACHE_URL=redis://...
CELERY_BROKER_URL=redis://... pytest tests/test_multi_node.py
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.conf import global_settings

from connections.models import Connection, ConnectionCheck, SignInEvent
from organizations.models import Organization
from tests.connections.sso.helpers import (
    make_connection,
    set_default_role,
    verify_domain,
)
from tests.factories import PASSWORD, make_org, make_user
from tests.fixtures.e2e import (
    ARTIFACTS,
    FERNET_KEY,
    free_port,
    start_gunicorn,
    stop_processes,
)
from tests.fixtures.idp import IdP

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]

LOGIN_PATH = "multinode"
DOMAIN = "multinode.test"
CLIENT_ID = "multi-node-console"
CLIENT_SECRET = "multi-node-secret-" + "y" * 24
ADA_SUB, ADA_EMAIL, ADA_IDP_PASSWORD = "00u-mn-ada", f"ada@{DOMAIN}", "idp-pw-mn"
# Every HTTP request of these tests is bounded; a check is read for this long.
REQUEST_TIMEOUT_S = 10
CHECK_TIMEOUT_S = 30


@dataclass(frozen=True)
class Nodes:
    one: str
    two: str
    idp: IdP


@pytest.fixture(scope="module")
def nodes(e2e_stack) -> Iterator[Nodes]:
    """Node 1: the stack's gunicorn. Node 2: another gunicorn, same environment.

    One worker process on node 2 is enough (what nodes share is what processes
    share) and saves a start-up on a small CI machine.
    """
    port = free_port()
    proc = start_gunicorn(
        port, e2e_stack.env, ARTIFACTS / "gunicorn-node2.log", workers=1
    )
    try:
        yield Nodes(e2e_stack.base_url, f"http://127.0.0.1:{port}", e2e_stack.idp)
    finally:
        stop_processes([proc])


@dataclass
class Tenant:
    org: Organization
    connection: Connection


@pytest.fixture
def tenant(nodes: Nodes, transactional_db, settings) -> Tenant:
    """An organization with a live connection to the IdP; Ada may sign in.

    Committed (the nodes are other processes) and flushed after the test. The
    client secret is encrypted with the nodes' key and the owner's password
    hashed with their hasher (the suite's fast MD5 is not in production's list).
    """
    settings.FIELD_ENCRYPTION_KEYS = [FERNET_KEY]
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    owner = make_user(f"owner@{DOMAIN}")
    org = make_org(LOGIN_PATH, owner=owner, name="Multi Node Inc")
    verify_domain(org, DOMAIN)
    set_default_role(org, "member")
    connection = make_connection(
        org, issuer=nodes.idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    nodes.idp.add_client(CLIENT_ID, CLIENT_SECRET, [nodes.one + "/sso/callback/"])
    nodes.idp.add_account(
        ADA_SUB, ADA_EMAIL, groups=["Engineering"], password=ADA_IDP_PASSWORD
    )
    return Tenant(org, connection)


def _browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the caller has
    return session


def _get(browser: requests.Session, url: str, **headers: str) -> requests.Response:
    return browser.get(
        url, headers=headers, allow_redirects=False, timeout=REQUEST_TIMEOUT_S
    )


def _post(
    browser: requests.Session, url: str, data: dict[str, str] | None = None, **headers
) -> requests.Response:
    """A form POST with the CSRF cookie's token, as the console's pages send."""
    token = browser.cookies.get("csrftoken")
    assert token, "no CSRF cookie yet: GET a page with a form first"
    return browser.post(
        url,
        data=data or {},
        headers={"X-CSRFToken": token, **headers},
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT_S,
    )


def _on(node: str, url: str, nodes: Nodes) -> str:
    """``url`` (on SITE_URL, node 1) as the load balancer sends it to ``node``."""
    assert url.startswith(nodes.one + "/"), url
    return node + url[len(nodes.one) :]


def _start_at_node_one(browser: requests.Session, nodes: Nodes) -> str:
    """GET the organization's login URL on node 1, sign in at the IdP; return
    the IdP's redirect back (the callback URL), not yet requested."""
    start = _get(browser, f"{nodes.one}/sso/login/{LOGIN_PATH}/")
    assert start.status_code == 302, start.text[:2000]
    back = nodes.idp.login(
        nodes.idp.http_session(), start.headers["Location"], ADA_EMAIL, ADA_IDP_PASSWORD
    )
    assert back.startswith(f"{nodes.one}/sso/callback/?"), back
    return back


def _me(browser: requests.Session, node: str) -> requests.Response:
    return _get(browser, f"{node}/accounts/me/", Accept="application/json")


def _events(org: Organization) -> list[tuple[str, str]]:
    """(outcome, step) of the organization's sign-in events, sorted."""
    return sorted(
        SignInEvent.objects.filter(organization=org).values_list("outcome", "step")
    )


def test_a_sign_in_started_on_one_node_finishes_on_the_other(
    tenant: Tenant, nodes: Nodes
) -> None:
    browser = _browser()
    back = _start_at_node_one(browser, nodes)

    done = _get(browser, _on(nodes.two, back, nodes))

    assert done.status_code == 302, done.text[:2000]
    assert done.headers["Location"] == "/"
    for node in (nodes.one, nodes.two):
        me = _me(browser, node)
        assert me.status_code == 200, (node, me.text[:500])
        assert me.json()["email"] == ADA_EMAIL
        assert [m["org"] for m in me.json()["memberships"]] == [LOGIN_PATH]
    assert _events(tenant.org) == [("success", "signed_in")]

    # Signing out on one node ends the session on every node.
    assert _get(browser, f"{nodes.two}/accounts/login/").status_code == 200
    assert _post(browser, f"{nodes.two}/accounts/logout/").status_code == 302
    assert _me(browser, nodes.one).status_code == 401


def test_a_used_callback_is_refused_by_the_other_node(
    tenant: Tenant, nodes: Nodes
) -> None:
    browser = _browser()
    back = _start_at_node_one(browser, nodes)
    nodes.idp.reset_counts()
    assert _get(browser, _on(nodes.two, back, nodes)).status_code == 302

    # The same response again on node 1: from the same browser (a reload),
    # and from another one that got hold of the URL (a replay).
    again = _get(browser, back)
    stranger = _browser()
    replay = _get(stranger, back)

    for response in (again, replay):
        assert response.status_code == 400, response.text[:2000]
    # "reused", not "unknown": node 1 saw the marker node 2 wrote in Redis.
    # Recorded once: replays from one address are written once a minute.
    assert _events(tenant.org) == [
        ("failure", "state_reused"),
        ("success", "signed_in"),
    ]
    assert nodes.idp.count(nodes.idp.metadata["token_endpoint"]) == 1
    assert _me(stranger, nodes.one).status_code == 401


def test_one_callback_sent_to_both_nodes_at_once_signs_in_once(
    tenant: Tenant, nodes: Nodes
) -> None:
    browser = _browser()
    back = _start_at_node_one(browser, nodes)
    nodes.idp.reset_counts()
    # Two copies of the same browser (same session cookie) send the callback,
    # one to each node, released together.
    copies = [_browser(), _browser()]
    for copy in copies:
        copy.cookies.update(browser.cookies)
    barrier = threading.Barrier(2, timeout=REQUEST_TIMEOUT_S)
    answers: dict[str, Any] = {}

    def send(node: str, copy: requests.Session) -> None:
        try:
            barrier.wait()
            answers[node] = _get(copy, _on(node, back, nodes))
        except Exception as exc:  # reported by the assertion below
            answers[node] = exc

    threads = [
        threading.Thread(target=send, args=(node, copy))
        for node, copy in zip((nodes.one, nodes.two), copies, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * REQUEST_TIMEOUT_S)

    statuses = sorted(
        getattr(answers.get(node), "status_code", repr(answers.get(node)))
        for node in (nodes.one, nodes.two)
    )
    assert statuses == [302, 400], answers
    assert _events(tenant.org) == [
        ("failure", "state_reused"),
        ("success", "signed_in"),
    ]
    assert nodes.idp.count(nodes.idp.metadata["token_endpoint"]) == 1


def test_a_check_started_on_one_node_is_read_on_the_other(
    tenant: Tenant, nodes: Nodes
) -> None:
    owner = _browser()
    assert _get(owner, f"{nodes.one}/accounts/login/").status_code == 200
    signed_in = _post(
        owner,
        f"{nodes.one}/accounts/login/",
        {"username": f"owner@{DOMAIN}", "password": PASSWORD},
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]

    started = _post(
        owner,
        f"{nodes.one}/orgs/{LOGIN_PATH}/connections/{tenant.connection.pk}/test/",
        Accept="application/json",
    )
    assert started.status_code == 202, started.text[:2000]
    check_url = nodes.two + started.json()["url"]

    # A Celery worker (the stack's) runs it; node 2 reads it from the database.
    deadline = time.monotonic() + CHECK_TIMEOUT_S
    while True:
        read = _get(owner, check_url, Accept="application/json")
        assert read.status_code == 200, read.text[:2000]
        if read.json()["status"] in ("passed", "failed"):
            break
        assert time.monotonic() < deadline, (
            f"the check was still {read.json()['status']} after {CHECK_TIMEOUT_S} s"
        )
        time.sleep(0.2)
    assert read.json()["status"] == "passed", read.json()["steps"]
    check = ConnectionCheck.objects.get(pk=started.json()["id"])
    assert check.status == ConnectionCheck.Status.PASSED
