"""Client secrets at rest: encrypted, rotatable, and never handed back."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from connections.models import ConnectionConfig
from connections.services.connections import connection_secrets_rotate
from organizations.models import AuditEvent
from tests.connections.conftest import SECRET, make_connection


def _reload(config_id: int) -> ConnectionConfig:
    return ConnectionConfig.objects.get(pk=config_id)


def test_key_rotation_keeps_secrets_readable(
    idp, owner_membership, run_check, settings
):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    connection = make_connection(owner_membership, idp.issuer)
    fingerprint = connection.draft.fingerprint
    old_ciphertext = connection.draft.client_secret_encrypted

    # Step 1: the new key goes first; old ciphertexts still decrypt.
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert _reload(connection.draft_id).client_secret == SECRET
    # Step 2: re-encrypt everything with the new key.
    assert connection_secrets_rotate() == 1
    assert AuditEvent.objects.filter(
        action="connection.secrets_rotated", details={"count": 1}
    ).exists()
    rotated = _reload(connection.draft_id)
    assert rotated.client_secret_encrypted != old_ciphertext
    # Step 3: the old key can go.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    rotated = _reload(connection.draft_id)
    assert rotated.client_secret == SECRET
    assert rotated.compute_fingerprint() == fingerprint == rotated.fingerprint
    assert run_check(owner_membership, connection).status == "passed"


def test_without_rotation_removing_the_old_key_is_a_clear_error(
    owner_membership, settings
):
    connection = make_connection(owner_membership, "https://acme.okta.example")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="Add the old key back"):
        _reload(connection.draft_id).client_secret  # noqa: B018


def test_the_secret_is_stored_encrypted_and_never_audited(owner_membership, settings):
    connection = make_connection(owner_membership, "https://acme.okta.example")
    stored = connection.draft.client_secret_encrypted
    assert SECRET not in stored
    key = Fernet(settings.FIELD_ENCRYPTION_KEYS[0])
    assert key.decrypt(stored.encode()).decode() == SECRET
    for event in AuditEvent.objects.all():
        assert SECRET not in f"{event.target} {event.details}"
