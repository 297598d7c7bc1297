"""One sign-in through Django's test client, with the queries of each request.

Used for both apps, each in a process with its own settings: ours in the
benchmark's process, the stock app through ``python -m bench.counted`` (which
prints JSON), so both are counted the same way.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.fixtures.idp import IdP


@dataclass(frozen=True)
class CountedSignIn:
    """Queries of the start request, the callback and the page it lands on."""

    start: int
    callback: int
    landing: int

    @property
    def total(self) -> int:
        return self.start + self.callback + self.landing


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _get_counted(client: Client, url: str):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    # Read now: the next request outside a capture empties the query log.
    return response, len(captured)


def counted_sign_in(
    idp: IdP, browser, *, host: str, start_url: str, email: str
) -> CountedSignIn:
    """Sign ``email`` in from a fresh app session; ``browser`` is the IdP's."""
    client = Client(HTTP_HOST=host)
    start, start_queries = _get_counted(client, start_url)
    if start.status_code != 302:
        raise AssertionError(f"sign-in start: HTTP {start.status_code}")
    back = idp.login(browser, start["Location"], email)
    done, callback_queries = _get_counted(client, _path(back))
    if done.status_code != 302 or "_auth_user_id" not in client.session:
        raise AssertionError(
            f"callback: HTTP {done.status_code}, not signed in: "
            + done.content.decode(errors="replace")[:300]
        )
    landing, landing_queries = _get_counted(client, done["Location"])
    if landing.status_code != 200 or email not in landing.content.decode():
        raise AssertionError(f"landing page: HTTP {landing.status_code}")
    return CountedSignIn(start_queries, callback_queries, landing_queries)


def main(argv: list[str]) -> int:
    """``python -m bench.counted IDP_ORIGIN HOST START_URL EMAIL``: a first and a
    warm sign-in of EMAIL, as JSON (DJANGO_SETTINGS_MODULE names the app)."""
    import django

    django.setup()
    idp_origin, host, start_url, email = argv
    idp = IdP(idp_origin, Path(os.devnull))
    browser = idp.http_session()
    first = counted_sign_in(idp, browser, host=host, start_url=start_url, email=email)
    warm = counted_sign_in(idp, browser, host=host, start_url=start_url, email=email)
    print(json.dumps({"first": asdict(first), "warm": asdict(warm)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
