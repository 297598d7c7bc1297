"""`make demo` starts: the console, the local IdP and the DNS server answer.

Slow (a migration on a fresh database and a dev server): marked ``demo``.
"""

from __future__ import annotations

import json
import urllib.request

import dns.resolver
import pytest

from demo.stack import CLIENT_ID, DemoStack, free_port

pytestmark = [pytest.mark.demo, pytest.mark.timeout(150)]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        return response.status, response.read().decode()


def test_the_demo_stack_serves_the_console_the_idp_and_the_domains_record(tmp_path):
    with DemoStack(port=free_port(), workdir=tmp_path, quiet=True) as stack:
        status, body = _get(f"{stack.issuer}/.well-known/openid-configuration")
        assert status == 200
        assert json.loads(body)["issuer"] == stack.issuer
        assert stack.issuer.startswith("http://127.0.0.1:")

        status, page = _get(f"{stack.site_url}/login/")
        assert status == 200
        assert "<form" in page

        resolver = dns.resolver.Resolver(configure=False)
        host, port = stack.nameserver.split(":")
        resolver.nameservers, resolver.port = [host], int(port)
        answer = resolver.resolve(stack.seeded["txt_name"], "TXT", lifetime=5)
        values = [b"".join(r.strings).decode() for r in answer]
        assert values == [stack.seeded["txt_value"]]

        summary = stack.summary()
        assert CLIENT_ID in summary and "alice@demo.test" in summary
        assert stack.seeded["setup_url"].startswith(f"{stack.site_url}/setup/")
    # Ctrl-C's path: everything is stopped.
    assert stack._console is not None and stack._console.poll() is not None
