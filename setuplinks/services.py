"""Setup links: create, revoke, open; and what the IT admin does through one.

The owner creates a link for the person who administers their IdP. It carries
a random token (``secrets.token_urlsafe(32)``); only its SHA-256 is stored,
and the link is shown once. The first browser that opens it (a POST on the
link's page) takes it: a second secret, kept in that browser's session and
stored as a digest, binds the link to it, so a forwarded or leaked link is
useless once opened. Every request of the wizard checks the link again
(``setup_link_for_session``), so a revocation or the expiry takes effect at
once.

Through a link the IT admin may create or edit the draft of the link's
connection, start a check and run a test sign-in, all through connections'
own services with a :class:`~connections.delegates.DraftDelegate`, audited as
``{"by": "setup_link", "setup_link_id", "setup_link_email"}``. Nothing else:
publishing stays the owner's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import canonical_email
from connections.delegates import DraftDelegate
from connections.models import Connection, ConnectionCheck
from connections.services.checks import connection_check_start
from connections.services.connections import connection_create, connection_update
from organizations.errors import ServiceError
from organizations.services import audit, require_perm
from organizations.transactions import atomic_with_retry
from rolemapping.models import Membership
from setuplinks.models import SetupLink

__all__ = [
    "SESSION_KEY",
    "SetupLinkRefused",
    "setup_delegate",
    "setup_link_check_start",
    "setup_link_connection_save",
    "setup_link_create",
    "setup_link_for_session",
    "setup_link_from_token",
    "setup_link_open",
    "setup_link_revoke",
    "setup_link_url",
    "setup_session_end",
]

# The session key of an opened link: {"id": <link id>, "binding": <secret>}.
SESSION_KEY = "setup_link"
TOKEN_BYTES = 32
MAX_NOTE_CHARS = 200
# What a link lets its holder do; the same permission creates and revokes it.
PERM = "connections.manage"


class SetupLinkRefused(ServiceError):
    """A setup link that cannot be used (any more); ``status`` is the HTTP
    status its page answers with."""

    def __init__(self, message: str, *, code: str, status: int = 410) -> None:
        super().__init__(message, code=code)
        self.status = status


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _ttl() -> timedelta:
    return timedelta(days=int(getattr(settings, "SETUP_LINK_TTL_DAYS", 7)))


def setup_link_url(token: str) -> str:
    """The link the owner hands to their IT admin."""
    site = str(settings.SITE_URL).rstrip("/")
    return f"{site}{reverse('setup_link_open', args=[token])}"


def _audit_details(link: SetupLink) -> dict[str, Any]:
    return {
        "by": "setup_link",
        "setup_link_id": link.pk,
        "setup_link_email": link.email,
    }


def setup_delegate(link: SetupLink) -> DraftDelegate:
    """The IT admin of ``link``, as connections' services take them."""
    return DraftDelegate(
        organization=link.organization,
        email=link.email,
        key=f"setup_link:{link.pk}",
        audit_details=_audit_details(link),
        check_url=lambda pk: reverse("setup_check_detail", args=[pk]),
    )


# ---------------------------------------------------------------------------
# The owner's side


def _cleaned_email(raw: str) -> str:
    email = canonical_email(raw or "")
    try:
        validate_email(email)
    except ValidationError:
        email = ""
    if not email or len(email) > 254 or not email.isascii():
        raise ServiceError(
            _(
                "Enter the email address of the person who administers your "
                "identity provider, for example 'it-admin@example.com'."
            ),
            code="setup_link_email_invalid",
        )
    return email


@transaction.atomic
def setup_link_create(
    *,
    actor_membership: Membership,
    email: str,
    note: str = "",
    connection: Connection | None = None,
    ip: str | None = None,
) -> tuple[SetupLink, str]:
    """Create a link for the IT admin at ``email``; returns it and its URL,
    which is shown once. An earlier active link for the same address in the
    organization is revoked: one working link per person."""
    require_perm(actor_membership, PERM)
    org = actor_membership.organization
    email = _cleaned_email(email)
    note = " ".join((note or "").split())
    if len(note) > MAX_NOTE_CHARS or not note.isprintable():
        raise ServiceError(
            _("The note may have at most %(max)d characters, on one line.")
            % {"max": MAX_NOTE_CHARS},
            code="setup_link_note_invalid",
        )
    if connection is not None and connection.organization_id != org.pk:
        raise ServiceError(
            _("Choose one of this organization's connections."),
            code="setup_link_connection_invalid",
        )
    now = timezone.now()
    earlier = list(
        SetupLink.objects.select_for_update(no_key=True)
        .filter(
            organization=org, email=email, revoked_at__isnull=True, expires_at__gt=now
        )
        .order_by("pk")
    )
    for old in earlier:
        old.revoked_at, old.revoked_by = now, actor_membership.user
        old.save(update_fields=["revoked_at", "revoked_by"])
        audit(
            action="setup_link.revoked",
            organization=org,
            actor=actor_membership.user,
            target=old.email,
            details={"setup_link_id": old.pk, "reason": "replaced"},
            ip=ip,
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = SetupLink.objects.create(
        organization=org,
        email=email,
        note=note,
        connection=connection,
        token_hash=_digest(token),
        created_by=actor_membership.user,
        created_at=now,
        expires_at=now + _ttl(),
    )
    audit(
        action="setup_link.created",
        organization=org,
        actor=actor_membership.user,
        target=email,
        details={
            "setup_link_id": link.pk,
            "connection_id": connection.pk if connection else None,
            "expires_at": link.expires_at.isoformat(),
        },
        ip=ip,
    )
    return link, setup_link_url(token)


@transaction.atomic
def setup_link_revoke(
    *, actor_membership: Membership, link: SetupLink, ip: str | None = None
) -> SetupLink:
    """Revoke ``link``: its browser is refused from its next request on."""
    require_perm(actor_membership, PERM)
    link = SetupLink.objects.select_for_update(no_key=True).get(
        pk=link.pk, organization_id=actor_membership.organization_id
    )
    if link.revoked_at is not None:
        return link
    link.revoked_at, link.revoked_by = timezone.now(), actor_membership.user
    link.save(update_fields=["revoked_at", "revoked_by"])
    audit(
        action="setup_link.revoked",
        organization=actor_membership.organization,
        actor=actor_membership.user,
        target=link.email,
        details={"setup_link_id": link.pk},
        ip=ip,
    )
    return link


# ---------------------------------------------------------------------------
# The IT admin's side


def _refuse_unusable(link: SetupLink) -> None:
    state = link.state
    if state == SetupLink.State.REVOKED:
        raise SetupLinkRefused(
            _(
                "This setup link was revoked by the organization's owner. Ask them "
                "for a new one if you still need to set up single sign-on."
            ),
            code="setup_link_revoked",
        )
    if state == SetupLink.State.EXPIRED:
        raise SetupLinkRefused(
            _(
                "This setup link has expired. Ask the organization's owner for a "
                "new one."
            ),
            code="setup_link_expired",
        )


def _unknown() -> SetupLinkRefused:
    return SetupLinkRefused(
        _(
            "This setup link is not valid: check that you copied all of it, or ask "
            "the organization's owner for a new one."
        ),
        code="setup_link_unknown",
        status=404,
    )


def setup_link_from_token(token: str) -> SetupLink:
    """The link ``token`` opens, usable now, or SetupLinkRefused."""
    if not token or len(token) > 100:
        raise _unknown()
    link = (
        SetupLink.objects.select_related("organization", "created_by")
        .filter(token_hash=_digest(token))
        .first()
    )
    if link is None:
        raise _unknown()
    _refuse_unusable(link)
    return link


@transaction.atomic
def setup_link_open(
    *, token: str, session: MutableMapping[str, Any], ip: str | None = None
) -> SetupLink:
    """Open the link in this browser: bind it to ``session``, once.

    Opening it again in the browser that holds it is harmless; any other
    browser is refused (``setup_link_taken``).
    """
    found = setup_link_from_token(token)
    link = SetupLink.objects.select_for_update(no_key=True).get(pk=found.pk)
    link.organization = found.organization
    _refuse_unusable(link)
    if link.binding_hash:
        if _session_holds(session, link):
            return link
        raise SetupLinkRefused(
            _(
                "This setup link was already opened in another browser, and works "
                "only there. If that was not you, or you lost that browser session, "
                "ask the organization's owner to revoke it and send you a new one."
            ),
            code="setup_link_taken",
            status=409,
        )
    binding = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    link.binding_hash, link.opened_at, link.last_used_at = _digest(binding), now, now
    link.save(update_fields=["binding_hash", "opened_at", "last_used_at"])
    session[SESSION_KEY] = {"id": link.pk, "binding": binding}
    audit(
        action="setup_link.opened",
        organization=link.organization,
        actor=None,
        target=link.email,
        details=_audit_details(link),
        ip=ip,
    )
    return link


def _session_holds(session: MutableMapping[str, Any], link: SetupLink) -> bool:
    value = session.get(SESSION_KEY)
    if not isinstance(value, dict) or value.get("id") != link.pk:
        return False
    binding = value.get("binding")
    return (
        isinstance(binding, str)
        and bool(link.binding_hash)
        and hmac.compare_digest(_digest(binding), link.binding_hash)
    )


def setup_link_for_session(
    session: MutableMapping[str, Any], *, lock: bool = False
) -> SetupLink:
    """The link this browser opened, checked now (revoked, expired, bound to
    this session), or SetupLinkRefused. ``lock`` (inside a transaction) holds
    the row until the caller's change commits, so a concurrent revocation
    waits for it or refuses it."""
    value = session.get(SESSION_KEY)
    link_id = value.get("id") if isinstance(value, dict) else None
    if not isinstance(link_id, int):
        raise SetupLinkRefused(
            _(
                "Open the setup link the organization's owner sent you to continue "
                "(this browser has not opened one)."
            ),
            code="setup_link_no_session",
            status=403,
        )
    rows = SetupLink.objects.select_related("organization", "connection", "created_by")
    if lock:
        rows = rows.select_for_update(no_key=True, of=("self",))
    link = rows.filter(pk=link_id).first()
    if link is None or not _session_holds(session, link):
        raise SetupLinkRefused(
            _(
                "This browser's setup session is no longer valid. Open the setup "
                "link again, or ask the organization's owner for a new one."
            ),
            code="setup_link_no_session",
            status=403,
        )
    _refuse_unusable(link)
    return link


def setup_session_end(session: MutableMapping[str, Any]) -> None:
    """Forget the link in this browser (it stays bound: it cannot be reopened
    elsewhere)."""
    session.pop(SESSION_KEY, None)


def setup_link_connection(link: SetupLink) -> Connection | None:
    """The connection the link works on, with its draft (None: none yet)."""
    if link.connection_id is None:
        return None
    return (
        Connection.objects.select_related("draft", "live", "organization")
        .filter(pk=link.connection_id, organization_id=link.organization_id)
        .first()
    )


def _touch(link: SetupLink, **fields: Any) -> None:
    link.last_used_at = timezone.now()
    for name, value in fields.items():
        setattr(link, name, value)
    link.save(update_fields=["last_used_at", *fields])


@atomic_with_retry
def setup_link_connection_save(
    *,
    session: MutableMapping[str, Any],
    ip: str | None = None,
    **fields: Any,
) -> Connection:
    """Create the link's connection, or edit its draft, with ``fields`` (the
    connection form's ``service_kwargs()``), as the link's IT admin."""
    link = setup_link_for_session(session, lock=True)
    delegate = setup_delegate(link)
    connection = setup_link_connection(link)
    if connection is None:
        connection = connection_create(actor_membership=delegate, ip=ip, **fields)
        _touch(link, connection=connection)
        return connection
    connection = connection_update(
        actor_membership=delegate, connection=connection, ip=ip, **fields
    )
    _touch(link)
    return connection


@atomic_with_retry
def setup_link_check_start(
    *, session: MutableMapping[str, Any], ip: str | None = None
) -> ConnectionCheck:
    """Start a check of the link's connection's draft, as its IT admin."""
    link = setup_link_for_session(session, lock=True)
    connection = setup_link_connection(link)
    if connection is None or connection.draft is None:
        raise ServiceError(
            _("Save the connection's details first, then run the check."),
            code="setup_link_nothing_to_check",
        )
    check = connection_check_start(
        actor_membership=setup_delegate(link), connection=connection, ip=ip
    )
    _touch(link)
    return check


def setup_delegate_for_request(request: HttpRequest, key: str) -> DraftDelegate | None:
    """The resolver connections' SSO callback asks (``delegate_for_request``):
    the IT admin of the link this browser holds, if it is ``key`` and usable
    now."""
    try:
        link = setup_link_for_session(request.session)
    except SetupLinkRefused:
        return None
    delegate = setup_delegate(link)
    return delegate if delegate.key == key else None
