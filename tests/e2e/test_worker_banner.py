"""Issue 20, in Chromium: a domain check that no worker picks up shows the
banner naming the cause, revealed by console.js from the page's own polling.

The app runs in pytest-django's live server with a broker configured and no
worker at all (nothing consumes the queue, and nothing stamps a heartbeat),
which is exactly the situation of an operator who forgot `celery worker`.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from domains.models import Domain
from tests.factories import make_org


@pytest.fixture
def no_worker(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6399/0"  # never reached
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.WORKER_WAIT_SECONDS = 6.0


def signed_in_page(browser: Any, live_server: Any, user: Any) -> Any:
    client = Client()
    client.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    cookie = client.cookies["sessionid"]
    context = browser.new_context(viewport={"width": 375, "height": 812})
    context.add_cookies(
        [{"name": "sessionid", "value": cookie.value, "url": live_server.url}]
    )
    return context.new_page()


def test_the_banner_appears_when_no_worker_takes_the_check(
    browser, live_server, transactional_db, no_worker
):
    from playwright.sync_api import expect

    org = make_org("acme", name="Acme Inc")
    Domain.objects.create(
        organization=org,
        name="acme.test",
        token="t",
        check_requested_at=timezone.now(),
    )
    page = signed_in_page(browser, live_server, org.owner)
    page.goto(f"{live_server.url}/orgs/acme/domains/")
    banner = page.locator("[data-worker-banner]")
    # Fresh: the check may still be picked up, so no banner yet.
    expect(banner).to_be_hidden()
    expect(page.get_by_text("Checking", exact=True)).to_be_visible()
    # A few seconds on, the poll says no worker: the banner names the cause.
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("No worker is running.")
    expect(banner).to_contain_text("celery -A config worker")
    page.context.close()
