"""manage.py rotate_encryption_key: an old key can be retired afterwards."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone

from accounts.models import SessionRecord
from connections.models import ConnectionConfig
from connections.services.encryption import ENCRYPTED_COLUMNS
from connections.services.signing_keys import assertion_key_for
from organizations.crypto import decrypt_secret, encrypt_secret
from organizations.models import AuditEvent, OutboundEmail
from tests.connections.conftest import SECRET, make_connection

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


@pytest.fixture
def stored_under_old_key(settings, owner_membership):
    """A secret, a signing key, a session key and an email body, all under OLD."""
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    with_secret = make_connection(owner_membership, "https://acme.okta.com")
    with_key = make_connection(
        owner_membership,
        "https://acme.okta.com",
        secret="",
        token_auth_method="private_key_jwt",
        name="Keys",
    )
    SessionRecord.objects.create(
        session_digest="d" * 64,
        session_key_encrypted=encrypt_secret("session-key-1"),
        user=owner_membership.user,
        organization=owner_membership.organization,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    OutboundEmail.objects.create(
        kind="test",
        to="ada@acme.test",
        subject="Hello",
        body_sealed=encrypt_secret(json.dumps({"text": "a link", "html": ""})),
    )
    return with_secret, with_key


def _run(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_key", *args, stdout=out)
    return out.getvalue()


def test_after_the_command_the_old_key_can_be_removed(settings, stored_under_old_key):
    with_secret, with_key = stored_under_old_key
    fingerprint = with_secret.draft.fingerprint
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]

    output = _run()

    assert "connections.ConnectionConfig.client_secret_encrypted: 1 re-encrypted" in (
        output
    )
    assert "connections.SigningKey.private_key_encrypted: 1 re-encrypted" in output
    assert "accounts.SessionRecord.session_key_encrypted: 1 re-encrypted" in output
    assert "organizations.OutboundEmail.body_sealed: 1 re-encrypted" in output
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    config = ConnectionConfig.objects.get(pk=with_secret.draft_id)
    assert config.client_secret == SECRET
    assert config.fingerprint == fingerprint == config.compute_fingerprint()
    assert assertion_key_for(with_key.pk) is not None
    record = SessionRecord.objects.get()
    assert decrypt_secret(record.session_key_encrypted) == "session-key-1"
    body = json.loads(decrypt_secret(OutboundEmail.objects.get().body_sealed))
    assert body["text"] == "a link"
    event = AuditEvent.objects.get(action="encryption_key.rotated")
    assert event.details["connections.SigningKey.private_key_encrypted"]["rotated"] == 1


def test_without_the_command_removing_the_old_key_breaks_decryption(
    settings, stored_under_old_key
):
    with_secret, _with_key = stored_under_old_key
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(ImproperlyConfigured):
        ConnectionConfig.objects.get(pk=with_secret.draft_id).client_secret


def test_a_second_run_changes_nothing(settings, stored_under_old_key):
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    _run()
    before = list(ConnectionConfig.objects.values_list("client_secret_encrypted"))

    output = _run()

    assert "0 re-encrypted, 1 already under the first key" in output
    after = list(ConnectionConfig.objects.values_list("client_secret_encrypted"))
    assert before == after


def test_a_dry_run_counts_and_changes_nothing(settings, stored_under_old_key):
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    before = list(ConnectionConfig.objects.values_list("client_secret_encrypted"))

    output = _run("--dry-run")

    assert "1 would be re-encrypted" in output
    assert "Dry run: nothing was changed." in output
    after = list(ConnectionConfig.objects.values_list("client_secret_encrypted"))
    assert before == after
    assert not AuditEvent.objects.filter(action="encryption_key.rotated").exists()


def test_a_value_no_key_decrypts_is_reported_not_lost(settings, stored_under_old_key):
    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # OLD forgotten before the run
    with pytest.raises(CommandError, match="decrypt with none of"):
        _run()
    # Nothing readable was damaged: with OLD back the values still decrypt.
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    assert ConnectionConfig.objects.first().client_secret == SECRET


def test_every_encrypted_column_is_listed():
    """A model field that holds a Fernet token must be re-encrypted too."""
    listed = {(model, field) for model, field in ENCRYPTED_COLUMNS}
    found = {
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.TextField)
        and (field.name.endswith("_encrypted") or field.name.endswith("_sealed"))
    }
    assert found == listed
