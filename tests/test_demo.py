"""`make demo` starts, and the journey it promises works on it: verify the
domain (its record is served), add the connection, check, test sign-in,
publish, and a person signs in through the demo IdP with a mapped role.

Slow (a migration on a fresh database and a dev server): marked ``demo``.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest
import requests

from demo.seed import OWNER_EMAIL, OWNER_PASSWORD
from demo.stack import CLIENT_ID, CLIENT_SECRET, IDP_PASSWORD, DemoStack, free_port

pytestmark = [pytest.mark.demo, pytest.mark.timeout(180)]

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[DemoStack]:
    workdir: Path = tmp_path_factory.mktemp("demo")
    with DemoStack(port=free_port(), workdir=workdir, quiet=True) as running:
        yield running
    # Ctrl-C's path: everything is stopped.
    assert running._console is not None and running._console.poll() is not None


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        return response.status, response.read().decode()


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the env names
    return session


def post(session: requests.Session, url: str, data: dict, **kwargs):
    """A form POST with the CSRF token of the page at ``url``'s form."""
    page = session.get(url, timeout=10)
    match = CSRF_RE.search(page.text)
    token = match.group(1) if match else session.cookies.get("csrftoken", "")
    return session.post(
        url,
        data={"csrfmiddlewaretoken": token, **data},
        allow_redirects=False,
        timeout=30,
        **kwargs,
    )


def test_the_demo_serves_the_console_the_idp_and_the_domains_record(stack):
    status, body = _get(f"{stack.issuer}/.well-known/openid-configuration")
    assert status == 200
    assert json.loads(body)["issuer"] == stack.issuer
    assert stack.issuer.startswith("http://127.0.0.1:")

    status, page = _get(f"{stack.site_url}/login/")
    assert status == 200 and "<form" in page

    resolver = dns.resolver.Resolver(configure=False)
    host, port = stack.nameserver.split(":")
    resolver.nameservers, resolver.port = [host], int(port)
    answer = resolver.resolve(stack.seeded["txt_name"], "TXT", lifetime=5)
    assert [b"".join(r.strings).decode() for r in answer] == [stack.seeded["txt_value"]]
    summary = stack.summary()
    assert CLIENT_ID in summary and "alice@demo.test" in summary
    assert stack.seeded["setup_url"].startswith(f"{stack.site_url}/setup/")


def test_the_whole_journey_runs_on_the_demo(stack):
    site, org = stack.site_url, f"{stack.site_url}/orgs/demo"
    owner = browser()
    signed_in = post(
        owner,
        f"{site}/accounts/login/",
        {"username": OWNER_EMAIL, "password": OWNER_PASSWORD},
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]

    # The domain: its TXT record is served, so it verifies.
    domain_id = stack.seeded["domain_id"]
    verified = post(owner, f"{org}/domains/{domain_id}/verify/", {})
    assert verified.status_code in (200, 302), verified.text[:2000]
    domains = owner.get(f"{org}/domains/", headers=JSON, timeout=10).json()
    assert [d["status"] for d in domains] == ["verified"], domains

    # The connection, checked and test-signed-in against the demo IdP.
    created = post(
        owner,
        f"{org}/connections/new/",
        {
            "name": "Demo IdP",
            "provider": "oidc",
            "issuer_url": stack.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": "openid email profile groups",
            "groups_claim": "groups",
            "email_claim": "email",
            "leeway_seconds": "60",
        },
    )
    assert created.status_code == 302, created.text[:3000]
    connection_url = site + created.headers["Location"]
    connection_id = connection_url.rstrip("/").rsplit("/", 1)[-1]
    checked = post(owner, f"{org}/connections/{connection_id}/test/", {}, headers=JSON)
    assert checked.status_code == 202, checked.text
    assert checked.json()["status"] == "passed", checked.text

    started = post(owner, f"{org}/connections/{connection_id}/test-signin/", {})
    authorize = started.headers["Location"]
    assert authorize.startswith(stack.issuer)
    back = stack.idp.login(browser(), authorize, OWNER_EMAIL, IDP_PASSWORD)
    result = owner.get(back, allow_redirects=False, timeout=30)
    assert result.status_code == 302
    test = owner.get(site + result.headers["Location"], headers=JSON, timeout=10)
    assert test.json()["status"] == "passed", test.text

    published = post(
        owner, f"{org}/connections/{connection_id}/publish/", {"confirm": "demo"}
    )
    assert published.status_code == 302, published.text[:3000]
    detail = owner.get(connection_url, headers=JSON, timeout=10).json()
    assert detail["status"] == "live"

    # Alice signs in through /login/ and the demo IdP, a member by her group.
    alice = browser()
    routed = post(alice, f"{site}/login/", {"email": "alice@demo.test"})
    assert routed.status_code == 302
    to_idp = alice.get(site + routed.headers["Location"], allow_redirects=False)
    assert to_idp.headers["Location"].startswith(stack.issuer)
    back = stack.idp.login(
        browser(), to_idp.headers["Location"], "alice@demo.test", IDP_PASSWORD
    )
    landed = alice.get(back, allow_redirects=False, timeout=30)
    assert landed.status_code == 302, landed.text[:2000]
    me = alice.get(f"{site}/accounts/me/", headers=JSON, timeout=10)
    assert me.status_code == 200, me.text[:2000]
    roles = {m["org"]: m["role"] for m in me.json()["memberships"]}
    assert roles == {"demo": "member"}
