"""Issue 20: emails never come from @localhost unless someone asks for it."""

import subprocess
import sys

import pytest

from tests.fixtures.environment import env_without_services


def from_email(**env: str) -> str:
    code = "from django.conf import settings; print(settings.DEFAULT_FROM_EMAIL)"
    overrides = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "True",
        "DATABASE_URL": "sqlite://:memory:",
        **env,
    }
    environment = env_without_services(**overrides)
    if "DEFAULT_FROM_EMAIL" not in env:
        environment.pop("DEFAULT_FROM_EMAIL", None)
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


@pytest.mark.parametrize(
    ("site_url", "expected"),
    [
        ("https://sso.acme.com", "SSO console <sso-console@sso.acme.com>"),
        ("http://127.0.0.1:8000", "SSO console <sso-console@example.com>"),
        ("http://localhost:8000", "SSO console <sso-console@example.com>"),
    ],
)
def test_the_default_sender_is_at_the_sites_domain_never_localhost(site_url, expected):
    assert from_email(SITE_URL=site_url) == expected


def test_the_setting_wins(db):
    assert (
        from_email(SITE_URL="https://sso.acme.com", DEFAULT_FROM_EMAIL="it@acme.com")
        == "it@acme.com"
    )
