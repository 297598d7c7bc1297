"""Re-encrypting every value stored under FIELD_ENCRYPTION_KEYS.

The first key of ``FIELD_ENCRYPTION_KEYS`` encrypts and all of them decrypt
(``organizations.crypto``). To retire an old key: put a new key first, run
``manage.py rotate_encryption_key``, then remove the old key. This module sits
in connections, the top app, because the encrypted columns live in several
apps; it is the one list of them (a test fails when a model grows an
encrypted column that is not listed).
"""

from __future__ import annotations

from django.db import models, transaction

from accounts.models import SessionRecord
from connections.models import ConnectionConfig, SigningKey
from organizations.crypto import ColumnRotation, column_reencrypt
from organizations.models import OutboundEmail
from organizations.services import audit

__all__ = ["ENCRYPTED_COLUMNS", "encrypted_columns_reencrypt"]

# Every column holding a Fernet token of organizations.crypto.
ENCRYPTED_COLUMNS: tuple[tuple[type[models.Model], str], ...] = (
    (ConnectionConfig, "client_secret_encrypted"),
    (SigningKey, "private_key_encrypted"),
    (SessionRecord, "session_key_encrypted"),
    (OutboundEmail, "body_sealed"),
)


@transaction.atomic
def encrypted_columns_reencrypt(*, dry_run: bool = False) -> list[ColumnRotation]:
    """Re-encrypt every stored secret not under the first key; counts per column.

    Idempotent: values already under the first key are left as they are.
    Configuration rows keep their fingerprints (they digest the plaintext).
    A dry run counts and writes nothing. A value no key decrypts is counted as
    unreadable and left alone, and the caller says so.
    """
    results = [
        column_reencrypt(model, field, dry_run=dry_run)
        for model, field in ENCRYPTED_COLUMNS
    ]
    if not dry_run:
        audit(
            action="encryption_key.rotated",
            organization=None,
            actor=None,
            details={
                r.label: {
                    "rotated": r.rotated,
                    "current": r.current,
                    "unreadable": r.unreadable,
                }
                for r in results
            },
        )
    return results
