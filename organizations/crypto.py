"""Secrets at rest: Fernet with key rotation (the first key encrypts, all decrypt)."""

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key."
        ) from exc


def encrypt_secret(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted: its key is no longer in "
            "FIELD_ENCRYPTION_KEYS. Add the old key back after the new one."
        ) from exc


def rotate_secret(ciphertext: str) -> str:
    """Re-encrypt with the first key (after adding a new key in front)."""
    return _fernet().rotate(ciphertext.encode()).decode()


def encrypted_under_first_key(ciphertext: str) -> bool:
    """Whether ``ciphertext`` already decrypts with the first key alone."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


@dataclass
class ColumnRotation:
    """What re-encrypting one column did (or, in a dry run, would do)."""

    label: str
    rotated: int = 0
    current: int = 0
    unreadable: int = 0


def column_reencrypt(
    model: type[models.Model], field: str, *, dry_run: bool = False
) -> ColumnRotation:
    """Re-encrypt every value of ``model.field`` not under the first key yet.

    Row by row with a queryset ``update()`` that only writes if the value is
    still the one read (a concurrent write wins, and is already under the
    first key), so ``save()`` and its rules (immutable rows, fingerprints of
    plaintext) are never involved. Values already under the first key are left
    alone, so a second run changes nothing. Empty values are skipped.
    """
    counts = ColumnRotation(label=f"{model._meta.label}.{field}")
    rows = (
        model._default_manager.exclude(**{field: ""})
        .order_by("pk")
        .values_list("pk", field)
    )
    for pk, ciphertext in rows.iterator():
        if encrypted_under_first_key(ciphertext):
            counts.current += 1
            continue
        try:
            fresh = rotate_secret(ciphertext)
        except InvalidToken:
            counts.unreadable += 1
            continue
        if not dry_run:
            model._default_manager.filter(pk=pk, **{field: ciphertext}).update(
                **{field: fresh}
            )
        counts.rotated += 1
    return counts
