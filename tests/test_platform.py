"""Health, security headers, settings that must fail fast, management commands."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import User
from organizations.crypto import decrypt_secret, encrypt_secret, rotate_secret
from organizations.models import Organization

ROOT = Path(__file__).resolve().parents[1]


def test_healthz_and_readyz(client, db, settings):
    # The worker is the e2e journeys' to prove (tests/e2e): none runs here.
    settings.CELERY_BROKER_URL = ""
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


@pytest.fixture
def unreachable_cache(settings):
    """The cache (and so cached sessions) on a closed loopback port: refused at
    once, so a test waits for nothing."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def test_readyz_names_a_cache_that_does_not_answer_within_seconds(
    client, db, unreachable_cache
):
    # Issue 16, item 6: with the cache (and so the sessions) down, /readyz
    # said ready. A closed port: refused at once, so no wait either.
    began = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - began < 5
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "unavailable"
    assert response.json()["checks"]["database"] == "ok"


def test_readyz_reports_a_missing_worker_when_a_broker_is_configured(
    client, db, settings, monkeypatch
):
    from config.celery import app

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setattr(app.control, "ping", lambda timeout, limit: [])
    monkeypatch.setattr("config.health._broker", lambda: "ok")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "no worker answered"


def test_security_headers_on_every_page(client, db):
    response = client.get(reverse("login"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # Other sites (the IdP included) get no referrer; see settings for why
    # not "no-referrer".
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_post_without_csrf_token_is_refused_with_a_sentence(db):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "a@b.c", "password": "x"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


def _run_settings(env_overrides, code="import django; django.setup()"):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "SECRET_KEY",
            "DEBUG",
            "FIELD_ENCRYPTION_KEYS",
            "DJANGO_SETTINGS_MODULE",
            "SSO_ALLOW_INSECURE_ISSUERS",
            "SSO_ALLOW_PRIVATE_NETWORKS",
            "SITE_URL",
            "CACHE_URL",
        )
    }
    env.update(env_overrides, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd="/tmp",
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_secret_key_fails_at_start_up_with_a_sentence():
    result = _run_settings({"DEBUG": "False"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_malformed_encryption_key_fails_at_start_up_with_a_sentence():
    result = _run_settings(
        {"DEBUG": "False", "SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEYS": "short"}
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS entry 1 is not a Fernet key" in result.stderr


def test_production_deployment_checks_are_clean():
    env = {
        "DEBUG": "False",
        "SECRET_KEY": "x" * 30 + "-a-long-random-production-secret-value",
        "FIELD_ENCRYPTION_KEYS": "dGVzdC1rZXktb25lLWZvci10aGUtc3VpdGUtMDAwMDA=",
        "SITE_URL": "https://sso.example.com",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
    }
    code = (
        "import django, sys; django.setup(); from django.core.management import "
        "call_command; call_command('check', '--deploy', '--fail-level', 'WARNING')"
    )
    result = _run_settings(env, code)
    assert result.returncode == 0, result.stderr


def test_production_with_a_process_local_cache_is_warned_about():
    # Issue 16, item 11: state, single-use markers and throttles would not be
    # shared between processes or machines.
    env = {
        "DEBUG": "False",
        "SECRET_KEY": "x" * 30 + "-a-long-random-production-secret-value",
        "FIELD_ENCRYPTION_KEYS": "dGVzdC1rZXktb25lLWZvci10aGUtc3VpdGUtMDAwMDA=",
        "SITE_URL": "https://sso.example.com",
    }
    code = (
        "import django, sys; django.setup(); from django.core.management import "
        "call_command; call_command('check', '--deploy', '--fail-level', 'WARNING')"
    )
    result = _run_settings(env, code)
    assert result.returncode != 0
    assert "connections.W003" in result.stderr and "CACHE_URL" in result.stderr


def test_secrets_survive_a_key_rotation(settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    token = encrypt_secret("s3cret")
    new = "bmV3LWtleS1mb3Itcm90YXRpb24tdGVzdHMtMDAwMDA="
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert decrypt_secret(token) == "s3cret"
    rotated = rotate_secret(token)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert decrypt_secret(rotated) == "s3cret"


def test_create_org_command(db, capsys):
    call_command(
        "create_org",
        "--name",
        "Initech",
        "--login-path",
        "initech",
        "--owner-email",
        "Bill@Initech.test",
    )
    out = capsys.readouterr().out
    assert "Password:" in out
    org = Organization.objects.get(login_path="initech")
    assert org.owner.email == "bill@initech.test"


def test_create_org_command_refuses_a_bad_path_and_leaves_nothing(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="reserved"):
        call_command(
            "create_org",
            "--name",
            "X",
            "--login-path",
            "admin",
            "--owner-email",
            "x@x.test",
        )
    assert not User.objects.exists()


def test_enforcement_cannot_be_turned_off_by_any_save(db):
    from django.core.exceptions import ValidationError

    from tests.factories import make_org

    org = make_org("acme")
    Organization.objects.filter(pk=org.pk).update(sso_enforced=True)
    org.refresh_from_db()
    org.sso_enforced = False
    with pytest.raises(ValidationError, match="cannot be turned off"):
        org.save()
    org.refresh_from_db()
    assert org.sso_enforced


def test_a_cache_outage_gets_a_page_that_says_what_is_down(
    db, settings, unreachable_cache
):
    # Issue 16, item 6: with the session store down every sign-in answered a
    # bare 500. The page now names the part and asks to try again later.
    from django.test import Client

    from tests.factories import PASSWORD, make_user

    user = make_user("ada@acme.test")
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    client = Client(raise_request_exception=False)
    response = client.post(
        reverse("login"), {"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "The cache and session store (Redis) is not answering." in page


def test_other_server_errors_keep_the_plain_500_page():
    from config.errors import outage_of

    assert outage_of(ValueError("a bug")) is None
    try:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError as exc:
            from redis.exceptions import ConnectionError as RedisConnectionError

            raise RuntimeError("wrapped") from RedisConnectionError(str(exc))
    except RuntimeError as wrapped:
        assert outage_of(wrapped) is not None
