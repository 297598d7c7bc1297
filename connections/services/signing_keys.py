"""The console's signing keys for ``private_key_jwt``, and their rotation.

A connection that authenticates with ``private_key_jwt`` has one *active* key,
which signs every client assertion, and may have one more *published* key,
in the JWKS but not signing. Rotation is three owner actions, each audited:
add a key (it is published at once, beside the active one), switch (it signs;
the old one stays published, so an IdP holding the old key set still
verifies), retire (the old key leaves the JWKS and its private part is
erased). The private part is
Fernet-encrypted at rest (``organizations.crypto``) and read only to sign.

Lock order (docs/ARCHITECTURE.md): the connection first, then its keys.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from connections.models import Connection, SigningKey
from connections.oidc.client_auth import ASSERTION_ALGS, AssertionKey
from connections.oidc.client_keys import jwks_document, signing_key_generate
from organizations.crypto import decrypt_secret, encrypt_secret
from organizations.errors import ServiceError
from organizations.models import Organization
from organizations.services import audit, require_perm
from rolemapping.models import Membership

__all__ = [
    "assertion_key_for",
    "jwks_for_org",
    "published_keys",
    "signing_key_activate",
    "signing_key_add",
    "signing_key_ensure",
    "signing_key_retire",
]

State = SigningKey.State


def _new_key(
    connection: Connection, *, alg: str, actor: User | None, state: str
) -> SigningKey:
    generated = signing_key_generate(alg)
    return SigningKey.objects.create(
        connection=connection,
        kid=generated.kid,
        alg=generated.alg,
        public_jwk=generated.public_jwk,
        private_key_encrypted=encrypt_secret(generated.private_pem),
        state=state,
        created_by=actor,
        activated_at=timezone.now() if state == State.ACTIVE else None,
    )


def _alg_checked(alg: str) -> str:
    if alg not in ASSERTION_ALGS:
        raise ServiceError(
            _("Choose RS256 or ES256 as the key's algorithm."),
            code="signing_alg_invalid",
        )
    return alg


def signing_key_ensure(
    *, connection: Connection, actor: User | None, ip: str | None = None
) -> SigningKey | None:
    """Give ``connection`` an active key when it has none; the new key or None.

    Called inside the transaction that saves a ``private_key_jwt``
    configuration, with the connection already locked.
    """
    if connection.signing_keys.filter(state=State.ACTIVE).exists():
        return None
    key = _new_key(connection, alg="RS256", actor=actor, state=State.ACTIVE)
    _audit(connection, "connection.signing_key_created", key, actor, ip)
    return key


def _locked(membership: Membership, connection_id: int) -> Connection:
    require_perm(membership, "connections.manage")
    return Connection.objects.select_for_update(no_key=True).get(
        pk=connection_id, organization_id=membership.organization_id
    )


def _audit(
    connection: Connection,
    action: str,
    key: SigningKey,
    actor: User | None,
    ip: str | None,
    **extra: Any,
) -> None:
    audit(
        action=action,
        organization=connection.organization,
        actor=actor,
        target=connection.name,
        details={
            "connection_id": connection.pk,
            "kid": key.kid,
            "alg": key.alg,
            **extra,
        },
        ip=ip,
    )


@transaction.atomic
def signing_key_add(
    *,
    actor_membership: Membership,
    connection: Connection,
    alg: str = "RS256",
    ip: str | None = None,
) -> SigningKey:
    """Rotation, step 1: a new key, published beside the active one.

    It does not sign yet: the IdP first needs to see it (it reads the JWKS URL,
    or the owner pastes the new key set into the IdP). Without an active key
    (a connection switching to ``private_key_jwt``) the new key is active.
    """
    connection = _locked(actor_membership, connection.pk)
    alg = _alg_checked(alg)
    if connection.signing_keys.filter(state=State.PUBLISHED).exists():
        raise ServiceError(
            _(
                "A new key is already published and waiting. Switch to it, or "
                "retire it, before adding another."
            ),
            code="signing_key_pending",
        )
    has_active = connection.signing_keys.filter(state=State.ACTIVE).exists()
    key = _new_key(
        connection,
        alg=alg,
        actor=actor_membership.user,
        state=State.PUBLISHED if has_active else State.ACTIVE,
    )
    _audit(connection, "connection.signing_key_created", key, actor_membership.user, ip)
    return key


@transaction.atomic
def signing_key_activate(
    *,
    actor_membership: Membership,
    connection: Connection,
    kid: str,
    ip: str | None = None,
) -> SigningKey:
    """Rotation, step 2: a published key signs from now on.

    The previous active key stays published until it is retired, so an IdP
    that cached the old key set still verifies.
    """
    connection = _locked(actor_membership, connection.pk)
    key = _key_of(connection, kid)
    if key.state != State.PUBLISHED:
        raise ServiceError(
            _("Only a published key that does not sign yet can be switched to."),
            code="signing_key_not_published",
        )
    previous = connection.signing_keys.filter(state=State.ACTIVE).first()
    now = timezone.now()
    if previous is not None:
        previous.state = State.PUBLISHED
        previous.save(update_fields=["state"])
    key.state = State.ACTIVE
    key.activated_at = now
    key.save(update_fields=["state", "activated_at"])
    _audit(
        connection,
        "connection.signing_key_activated",
        key,
        actor_membership.user,
        ip,
        previous_kid=previous.kid if previous else None,
    )
    return key


@transaction.atomic
def signing_key_retire(
    *,
    actor_membership: Membership,
    connection: Connection,
    kid: str,
    ip: str | None = None,
) -> SigningKey:
    """Rotation, step 3: an old key leaves the JWKS; its private part is erased.

    The active key cannot be retired: switch to another first.
    """
    connection = _locked(actor_membership, connection.pk)
    key = _key_of(connection, kid)
    if key.state == State.ACTIVE:
        raise ServiceError(
            _(
                "This key signs the console's requests: add a new key and switch "
                "to it before retiring this one."
            ),
            code="signing_key_active",
        )
    if key.state == State.RETIRED:
        return key
    key.state = State.RETIRED
    key.retired_at = timezone.now()
    key.private_key_encrypted = ""
    key.save(update_fields=["state", "retired_at", "private_key_encrypted"])
    _audit(connection, "connection.signing_key_retired", key, actor_membership.user, ip)
    return key


def _key_of(connection: Connection, kid: str) -> SigningKey:
    key = (
        SigningKey.objects.select_for_update(no_key=True)
        .filter(connection=connection, kid=kid)
        .first()
    )
    if key is None:
        raise ServiceError(
            _("This connection has no key with that ID."), code="signing_key_unknown"
        )
    return key


# ---------------------------------------------------------------------------
# Reads


def published_keys(connection: Connection) -> list[SigningKey]:
    """The connection's keys not retired: the active one first."""
    keys = list(connection.signing_keys.exclude(state=State.RETIRED))
    return sorted(keys, key=lambda k: (k.state != State.ACTIVE, k.created_at))


def assertion_key_for(connection_id: int) -> AssertionKey | None:
    """The active key of a connection, decrypted to sign; None without one."""
    key = (
        SigningKey.objects.filter(connection_id=connection_id, state=State.ACTIVE)
        .only("kid", "alg", "private_key_encrypted")
        .first()
    )
    if key is None or not key.private_key_encrypted:
        return None
    return AssertionKey(
        kid=key.kid, alg=key.alg, private_pem=decrypt_secret(key.private_key_encrypted)
    )


def jwks_for_org(organization: Organization) -> dict[str, Any]:
    """The organization's public keys: every published key of its connections."""
    jwks = (
        SigningKey.objects.filter(connection__organization=organization)
        .filter(Q(state=State.ACTIVE) | Q(state=State.PUBLISHED))
        .order_by("connection_id", "created_at", "id")
        .values_list("public_jwk", flat=True)
    )
    return jwks_document(list(jwks))
