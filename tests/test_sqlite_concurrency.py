"""The embedded SQLite database holds concurrent writers (issue 16, item 10).

Runs in a subprocess against a file database configured by config/settings.py
exactly as `make run` uses it: Django's test database is in memory and shared,
which would hide the locking this is about.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.environment import env_without_services

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import secrets
    import threading
    from datetime import timedelta

    import django
    django.setup()
    from django.core.management import call_command
    from django.db import OperationalError, connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from invitations.models import Invitation
    from invitations.services import invitation_accept_with_password, token_hash
    from organizations.errors import ServiceError
    from organizations.services import organization_create
    from rolemapping.models import Role
    from rolemapping.provisioning import Decision
    from rolemapping.services import membership_sync

    owner = User.objects.create_user("owner@acme.test", "pw-Long-enough-1")
    org = organization_create(name="Acme", login_path="acme", owner=owner)
    token = secrets.token_urlsafe(32)
    Invitation.objects.create(
        organization=org, email="dev@acme.test",
        role=Role.objects.get(organization=org, slug="member"),
        token_hash=token_hash(token), invited_by=owner,
        expires_at=timezone.now() + timedelta(days=7),
    )
    member = User.objects.create_user("sso@acme.test")
    decision = Decision(allowed=True, role="member", groups=(), matched_groups=(),
                        reason="test", groups_claim_status="missing",
                        code="default_role")
    connection.close()

    errors, accepted, refused = [], [], []
    gate = threading.Barrier(8)

    def accept():
        gate.wait()
        try:
            invitation_accept_with_password(token=token, password="pw-Long-enough-1")
            accepted.append(1)
        except ServiceError:
            refused.append(1)
        except OperationalError as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    def sign_in():
        gate.wait()
        try:
            for _ in range(10):
                membership_sync(organization=org, user=member, decision=decision)
        except OperationalError as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    for target in (accept, sign_in):
        threads = [threading.Thread(target=target) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(f"accepted={len(accepted)} refused={len(refused)} errors={errors}")
    """
)


@pytest.mark.timeout(120)
def test_eight_concurrent_writers_on_the_embedded_sqlite_get_no_locked_errors(
    tmp_path,
):
    env = env_without_services(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="True",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "accepted=1 refused=7 errors=[]" in result.stdout, (
        result.stdout + result.stderr[-3000:]
    )
