"""The index of signed-in sessions per person and organization.

A session is recorded, once per organization it can reach, when someone signs
in: a password sign-in reaches the organizations the person is an active
member of; a sign-in through an organization's IdP reaches that organization
(and the ones the same session signed in to before), with the IdP's `sid`.
Ending sessions (directory sync deprovisioning, back-channel logout, "sign out
everywhere") deletes them from Django's session store through its public
`SessionStore`, so the person's next request is anonymous whatever the
engine; only signed-cookie sessions, which no server can end, are left to the
membership check (organizations.middleware).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import SessionRecord, User
from organizations.crypto import decrypt_secret, encrypt_secret
from organizations.errors import PermissionDenied
from organizations.services import audit, require_perm
from rolemapping.models import Membership, Role

__all__ = [
    "member_sign_out_everywhere",
    "session_index",
    "sessions_count",
    "sessions_end",
    "session_records_prune",
]

# Sign-ins whose sessions the SSO callback indexes itself (with the IdP's sid).
SSO_BACKEND = "connections.backend.OrganizationOIDCBackend"


def _digest(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def _store(session_key: str | None = None) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key=session_key)
    return store


def session_index(
    request: HttpRequest,
    user_id: int,
    organization_ids: Iterable[int],
    *,
    idp_sid_by_org: dict[int, str] | None = None,
) -> int:
    """Record that this request's session, signed in as the account `user_id`,
    reaches these organizations.

    One INSERT whatever the number of organizations; a row that exists is left
    alone. Saves a session that has no key yet (login() after another
    person's session flushes it), so the key recorded is the one the cookie
    will carry. Returns how many organizations were given.
    """
    org_ids = sorted({pk for pk in organization_ids if isinstance(pk, int)})
    if not org_ids:
        return 0
    session = request.session
    if session.session_key is None:
        session.save()
    key = session.session_key
    if key is None:  # a signed-cookie session: nothing server-side to end
        return 0
    sids = idp_sid_by_org or {}
    now = timezone.now()
    expires_at = now + timedelta(seconds=session.get_expiry_age())
    digest = _digest(key)
    encrypted = encrypt_secret(key)
    SessionRecord.objects.bulk_create(
        [
            SessionRecord(
                session_digest=digest,
                session_key_encrypted=encrypted,
                user_id=user_id,
                organization_id=org_id,
                idp_sid=(sids.get(org_id) or "")[:255],
                created_at=now,
                expires_at=expires_at,
            )
            for org_id in org_ids
        ],
        ignore_conflicts=True,
    )
    return len(org_ids)


def sessions_end(
    *,
    organization_id: int,
    user_id: int | None = None,
    idp_sid: str | None = None,
) -> int:
    """End every session of this person (or with this IdP session id) that
    reaches this organization; how many sessions were ended.

    A session that also reached other organizations ends as a whole: one
    cookie is one session, and leaving half of it signed in would be a
    surprise. The rows of every ended session go too.
    """
    if user_id is None and not idp_sid:
        raise ValueError("sessions_end needs a person or an IdP session id.")
    rows = SessionRecord.objects.filter(organization_id=organization_id)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    if idp_sid:
        rows = rows.filter(idp_sid=idp_sid)
    found = dict(rows.values_list("session_digest", "session_key_encrypted"))
    if not found:
        return 0
    store = _store()
    for encrypted in found.values():
        store.delete(decrypt_secret(encrypted))
    SessionRecord.objects.filter(session_digest__in=list(found)).delete()
    return len(found)


def sessions_count(*, organization_id: int, user_id: int) -> int:
    """How many unexpired sessions of this person reach this organization."""
    return SessionRecord.objects.filter(
        organization_id=organization_id,
        user_id=user_id,
        expires_at__gt=timezone.now(),
    ).count()


@transaction.atomic
def member_sign_out_everywhere(
    *, actor_membership: Membership, membership: Membership, ip: str | None = None
) -> int:
    """End every session of a member that reaches the actor's organization
    ("sign out everywhere"); how many ended. Audited.

    Owners and admins (``members.manage``); signing out an admin or the
    owner takes the owner, as changing an admin's role does. Their sessions
    elsewhere that never reached this organization are not touched.
    """
    require_perm(actor_membership, "members.manage")
    if membership.organization_id != actor_membership.organization_id:
        raise PermissionDenied(
            _("That person is not a member of this organization."),
            code="member_of_other_organization",
        )
    if (
        membership.pk != actor_membership.pk
        and actor_membership.role.slug != Role.Slug.OWNER
        and membership.role.slug in (Role.Slug.OWNER, Role.Slug.ADMIN)
    ):
        raise PermissionDenied(
            _("Only the owner can sign out an admin or the owner."),
            code="sign_out_owner_only",
        )
    ended = sessions_end(
        organization_id=membership.organization_id, user_id=membership.user_id
    )
    audit(
        action="membership.signed_out_everywhere",
        organization=membership.organization,
        actor=actor_membership.user,
        target=membership.user.email,
        details={"sessions_ended": ended},
        ip=ip,
    )
    return ended


def session_records_prune() -> int:
    """Delete the rows of sessions past their expiry; how many rows."""
    deleted, _kinds = SessionRecord.objects.filter(
        expires_at__lte=timezone.now()
    ).delete()
    return deleted


@receiver(user_logged_in, dispatch_uid="accounts.sessions.index_password_sign_in")
def _index_password_sign_in(
    sender: type, request: HttpRequest | None, user: User, **kwargs: object
) -> None:
    """A sign-in other than SSO reaches the organizations the person is an
    active member of; the SSO callback indexes its own (with the sid)."""
    if request is None or request.session.get(BACKEND_SESSION_KEY) == SSO_BACKEND:
        return
    org_ids = Membership.objects.filter(user=user, is_active=True).values_list(
        "organization_id", flat=True
    )
    session_index(request, user.pk, list(org_ids))


@receiver(user_logged_out, dispatch_uid="accounts.sessions.forget_on_sign_out")
def _forget_on_sign_out(
    sender: type, request: HttpRequest | None, user: User | None, **kwargs: object
) -> None:
    """Signing out removes this session's rows (the session itself is flushed
    by logout())."""
    if request is None:
        return
    key = request.session.session_key
    if key:
        SessionRecord.objects.filter(session_digest=_digest(key)).delete()
