"""Invitations by email that end in a sign-in.

The link carries a random token (``secrets.token_urlsafe(32)``: 256 bits); only
its SHA-256 is stored, so a database leak yields no working link. Re-sending
replaces the hash (old links die), revoking and accepting close the row, and
the partial unique constraint keeps one open invitation per (organization,
email).

Emails go through the outbox (``organizations.mail``): rendered here, written
in the transaction that issues the token, sent on commit or, when the broker
is down, by the flush once it is back. The outbox keeps the body (and so the
link) encrypted with the field-encryption keys and empties it once sent; the
broker only ever carries the email's id. Just before sending, the outbox asks
:func:`invitation_email_wanted`: a link revoked, accepted, expired or replaced
meanwhile is never mailed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User, canonical_email
from accounts.services import user_email_prove
from domains.names import email_domain
from domains.services import org_has_verified_domain
from invitations.models import Invitation
from organizations.crypto import decrypt_secret
from organizations.errors import PermissionDenied, ServiceError
from organizations.mail import email_enqueue
from organizations.models import Organization, OutboundEmail
from organizations.permissions import ROLE_RANK
from organizations.services import audit, require_perm
from organizations.text import name_clean
from rolemapping.directory_members import directory_suspended_refusal
from rolemapping.models import Membership, Role
from rolemapping.services import grantable_role

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

__all__ = [
    "sso_is_live",
    "MAX_ADDRESSES",
    "STATES",
    "InvitationLinkError",
    "InviteOutcome",
    "InviteReport",
    "invitation_accept_for_user",
    "invitation_accept_with_password",
    "EMAIL_KIND",
    "invitation_email_requeue",
    "invitation_email_sent",
    "invitation_email_wanted",
    "invitation_for_signin",
    "invitation_from_token",
    "invitation_mark_accepted",
    "invitation_resend",
    "invitation_revoke",
    "invitations_create",
    "invitations_mark_expired",
    "invitations_page",
    "parse_email_list",
    "token_hash",
]

MAX_ADDRESSES = 200
TOKEN_BYTES = 32
# Longer than any token we issue; anything longer is not worth hashing.
MAX_TOKEN_LENGTH = 100
EXPIRE_BATCH = 500
STATES = ("pending", "accepted", "expired", "revoked")
# The outbox's name for invitation emails (organizations.mail).
EMAIL_KIND = "invitation"
# Commas, semicolons (Outlook) and line breaks separate addresses.
_SEPARATORS = re.compile(r"[,;\r\n]+")
# "Jane Doe <jane@acme.com>", as pasted from a mail client.
_NAMED_ADDRESS = re.compile(r"^[^<>]*<([^<>]+)>\s*$")

Status = Literal["invited", "resent", "member", "duplicate", "refused"]
STATUS_LABELS: dict[str, StrOrPromise] = {
    "invited": gettext_lazy("Invited"),
    "resent": gettext_lazy("Already invited (re-sent)"),
    "member": gettext_lazy("Already a member"),
    "duplicate": gettext_lazy("Duplicate"),
    "refused": gettext_lazy("Refused"),
}


def sso_is_live(organization: Organization) -> bool:
    """Whether the organization signs in through a live SSO connection now.

    Read through the reverse relation: connections sits above invitations, so
    invitations never imports it.
    """
    return organization.connections.filter(live__isnull=False).exists()


def sso_is_tested(organization: Organization) -> bool:
    """Whether the organization is on its way to single sign-on: one of its
    connections passed a connection check. From then on, a new account for
    an invitation would be a password account the switch disables, so
    invitations wait for the IdP instead (read through the reverse relation,
    like :func:`sso_is_live`)."""
    return organization.connections.filter(
        checks__kind="check", checks__status="passed"
    ).exists()


def token_hash(token: str) -> str:
    """The stored form of an invitation token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def _ttl() -> timedelta:
    return timedelta(days=max(1, int(getattr(settings, "INVITATION_TTL_DAYS", 7))))


def _is_expired(invitation: Invitation, now: datetime | None = None) -> bool:
    return invitation.expires_at <= (now or timezone.now())


def accept_url(token: str) -> str:
    """The link in the email: ``{SITE_URL}/invitations/<token>/``."""
    return f"{settings.SITE_URL}{reverse('invitation_accept', args=[token])}"


# ------------------------------------------------------------------ bulk invite


@dataclass(frozen=True)
class InviteOutcome:
    """What happened to one pasted address.

    ``status`` is a code; a refused address also has a ``code`` saying why
    (``address_invalid``, ``domain_not_verified``, ``invitation_conflict``).
    """

    entry: str
    email: str | None
    status: Status
    detail: str
    warning: str = ""
    code: str = ""

    @property
    def label(self) -> StrOrPromise:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class InviteReport:
    outcomes: list[InviteOutcome]

    def count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def invited_count(self) -> int:
        return self.count("invited")

    @property
    def resent_count(self) -> int:
        return self.count("resent")

    @property
    def member_count(self) -> int:
        return self.count("member")

    @property
    def duplicate_count(self) -> int:
        return self.count("duplicate")

    @property
    def refused_count(self) -> int:
        return self.count("refused")

    @property
    def refused_entries(self) -> list[str]:
        return [o.entry for o in self.outcomes if o.status == "refused"]


def parse_email_list(raw: str) -> list[str]:
    """Split pasted text into address entries (not yet validated), in order."""
    entries = []
    for part in _SEPARATORS.split(raw or ""):
        entry = part.strip()
        if entry:
            entries.append(entry)
    return entries


def email_normalize(entry: str) -> str | None:
    """The canonical address an entry names, or None if it is not one."""
    named = _NAMED_ADDRESS.match(entry)
    text = canonical_email(named.group(1) if named else entry)
    if len(text) > 254 or email_domain(text) is None:
        return None
    try:
        validate_email(text)
    except ValidationError:
        return None
    return text


def _domain_checker(organization: Organization) -> Callable[[str], bool]:
    """Whether a domain is verified by the organization, asked once per domain.

    The domains service owns what "verified" means (a domain in its grace
    period after the record vanished still counts); a pasted list rarely spans
    more than a few domains, so this is a handful of indexed queries.
    """
    known: dict[str, bool] = {}

    def verified(domain: str) -> bool:
        if domain not in known:
            known[domain] = org_has_verified_domain(organization, domain)
        return known[domain]

    return verified


def _invitable_role(actor_membership: Membership, slug: str) -> Role:
    role = grantable_role(actor_membership.organization, slug)
    if ROLE_RANK.get(role.slug, 0) > ROLE_RANK.get(actor_membership.role.slug, 0):
        raise PermissionDenied(
            _("You cannot invite someone as %(role)s: that role is above yours.")
            % {"role": role.name},
            code="role_above_yours",
        )
    return role


def _queue_email(
    invitation: Invitation, token: str, *, uses_sso: bool | None = None
) -> None:
    """Write the invitation email to the outbox; it goes out on commit.

    A newer email for the same invitation replaces one not sent yet.
    ``uses_sso``: whether the organization's SSO is live, when the caller knows.
    """
    organization = invitation.organization
    subject, text, html = _invitation_message(
        invitation,
        token,
        uses_sso=sso_is_live(organization) if uses_sso is None else uses_sso,
    )
    email_enqueue(
        to=invitation.email,
        subject=subject,
        text=text,
        html=html,
        kind=EMAIL_KIND,
        organization=organization,
        ref={"invitation_id": invitation.pk, "token_hash": invitation.token_hash},
        dedupe_key=f"invitation:{invitation.pk}",
    )


def _reissue(
    invitation: Invitation,
    *,
    role: Role,
    actor: User,
    ip: str | None,
    why: str,
    uses_sso: bool | None = None,
) -> None:
    """A new token and a new expiry for an open invitation; old links die."""
    token, digest = _new_token()
    previous_role = invitation.role.slug
    was_expired = _is_expired(invitation)
    invitation.token_hash = digest
    invitation.role = role
    invitation.expires_at = timezone.now() + _ttl()
    invitation.expired_marked_at = None
    invitation.save(
        update_fields=["token_hash", "role", "expires_at", "expired_marked_at"]
    )
    details: dict[str, Any] = {
        "role": role.slug,
        "why": why,
        "was_expired": was_expired,
    }
    if previous_role != role.slug:
        details["previous_role"] = previous_role
    audit(
        action="invitation.resent",
        organization=invitation.organization,
        actor=actor,
        target=invitation.email,
        details=details,
        ip=ip,
    )
    _queue_email(invitation, token, uses_sso=uses_sso)


@transaction.atomic
def invitations_create(
    *,
    actor_membership: Membership,
    emails: str,
    role_slug: str,
    ip: str | None = None,
) -> InviteReport:
    """Invite every address in ``emails`` with one role; report each address.

    Refuses the whole batch (nothing is sent) when it has no address or more
    than ``MAX_ADDRESSES`` different ones. Otherwise each address is judged on
    its own: invited, already a member, already invited (re-sent with a new
    link), listed twice, or refused with the reason.
    """
    require_perm(actor_membership, "invitations.manage")
    organization = actor_membership.organization
    actor = actor_membership.user
    role = _invitable_role(actor_membership, role_slug)
    entries = parse_email_list(emails)
    if not entries:
        raise ServiceError(
            _("Paste at least one email address, separated by commas or new lines."),
            code="addresses_missing",
        )
    distinct = {entry.lower() for entry in entries}
    if len(distinct) > MAX_ADDRESSES:
        raise ServiceError(
            _(
                "You pasted %(count)d addresses; invite at most %(max)d at a time. "
                "Nothing was sent: split the list and try again."
            )
            % {"count": len(distinct), "max": MAX_ADDRESSES},
            code="too_many_addresses",
        )

    parsed = [(entry, email_normalize(entry)) for entry in entries]
    valid = {email for _entry, email in parsed if email}
    members = set(
        Membership.objects.filter(
            organization=organization, is_active=True, user__email__in=valid
        ).values_list("user__email", flat=True)
    )
    open_invitations = {
        invitation.email: invitation
        for invitation in Invitation.objects.select_for_update(of=("self",))
        .select_related("role", "organization")
        .filter(
            organization=organization,
            email__in=valid,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        )
    }
    domain_verified = _domain_checker(organization)
    uses_sso = sso_is_live(organization)
    now = timezone.now()

    outcomes: list[InviteOutcome] = []
    seen: set[str] = set()
    for entry, email in parsed:
        if email is None:
            outcomes.append(
                InviteOutcome(
                    entry,
                    None,
                    "refused",
                    _('"%(entry)s" is not a valid email address. Check it for typos.')
                    % {"entry": entry},
                    code="address_invalid",
                )
            )
            continue
        if email in seen:
            outcomes.append(
                InviteOutcome(
                    entry,
                    email,
                    "duplicate",
                    _("Listed more than once: invited once."),
                )
            )
            continue
        seen.add(email)
        if email in members:
            outcomes.append(
                InviteOutcome(
                    entry, email, "member", _("Already a member: nothing was sent.")
                )
            )
            continue

        warning = ""
        domain = email_domain(email) or ""
        if not domain_verified(domain):
            if organization.sso_enforced:
                outcomes.append(
                    InviteOutcome(
                        entry,
                        email,
                        "refused",
                        _(
                            "%(domain)s is not one of %(organization)s's verified "
                            "domains, and the organization signs in only through "
                            "SSO: this person could never sign in. Verify their "
                            "domain first, or invite their work address."
                        )
                        % {"domain": domain, "organization": organization.name},
                        code="domain_not_verified",
                    )
                )
                continue
            warning = _(
                "%(domain)s is not one of your verified domains: once SSO is "
                "enforced, this person could not sign in."
            ) % {"domain": domain}

        existing = open_invitations.get(email)
        if existing is not None:
            was_expired = _is_expired(existing, now)
            _reissue(
                existing,
                role=role,
                actor=actor,
                ip=ip,
                why="invited again",
                uses_sso=uses_sso,
            )
            detail = (
                _(
                    "Already invited: the invitation had expired, so a new link "
                    "was sent."
                )
                if was_expired
                else _(
                    "Already invited: a new link was sent; the earlier one no "
                    "longer works."
                )
            )
            outcomes.append(InviteOutcome(entry, email, "resent", detail, warning))
            continue

        token, digest = _new_token()
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    organization=organization,
                    email=email,
                    role=role,
                    token_hash=digest,
                    invited_by=actor,
                    created_at=now,
                    expires_at=now + _ttl(),
                )
        except IntegrityError:
            outcomes.append(
                InviteOutcome(
                    entry,
                    email,
                    "refused",
                    _(
                        "Someone else invited this address at the same moment; "
                        "reload the list to see their invitation."
                    ),
                    code="invitation_conflict",
                )
            )
            continue
        audit(
            action="invitation.created",
            organization=organization,
            actor=actor,
            target=email,
            details={
                "role": role.slug,
                "expires_at": invitation.expires_at.isoformat(),
            },
            ip=ip,
        )
        _queue_email(invitation, token, uses_sso=uses_sso)
        outcomes.append(
            InviteOutcome(entry, email, "invited", _("Invitation sent."), warning)
        )
    return InviteReport(outcomes)


def _locked_for_admin(
    actor_membership: Membership, invitation: Invitation
) -> Invitation:
    return (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("role", "organization")
        .get(pk=invitation.pk, organization=actor_membership.organization)
    )


@transaction.atomic
def invitation_resend(
    *, actor_membership: Membership, invitation: Invitation, ip: str | None = None
) -> Invitation:
    """Send a new link (and a new expiry); the previous link stops working."""
    require_perm(actor_membership, "invitations.manage")
    invitation = _locked_for_admin(actor_membership, invitation)
    names = {"email": invitation.email}
    if invitation.accepted_at:
        raise ServiceError(
            _("%(email)s already accepted this invitation.") % names,
            code="invitation_accepted",
        )
    if invitation.revoked_at:
        raise ServiceError(
            _("The invitation for %(email)s was revoked; invite them again instead.")
            % names,
            code="invitation_revoked",
        )
    if Membership.objects.filter(
        organization=invitation.organization,
        user__email=invitation.email,
        is_active=True,
    ).exists():
        raise ServiceError(
            _("%(email)s is already a member.") % names, code="already_member"
        )
    role = invitation.role
    if ROLE_RANK.get(role.slug, 0) > ROLE_RANK.get(actor_membership.role.slug, 0):
        raise PermissionDenied(
            _(
                "Only someone with the %(role)s role or above can re-send this "
                "invitation."
            )
            % {"role": role.name},
            code="role_above_yours",
        )
    _reissue(invitation, role=role, actor=actor_membership.user, ip=ip, why="re-sent")
    return invitation


@transaction.atomic
def invitation_revoke(
    *, actor_membership: Membership, invitation: Invitation, ip: str | None = None
) -> Invitation:
    """Close an open invitation: its link stops working at once."""
    require_perm(actor_membership, "invitations.manage")
    invitation = _locked_for_admin(actor_membership, invitation)
    names = {"email": invitation.email}
    if invitation.accepted_at:
        raise ServiceError(
            _(
                "%(email)s already accepted; to remove them, change their "
                "membership on the Members page."
            )
            % names,
            code="invitation_accepted",
        )
    if invitation.revoked_at:
        raise ServiceError(
            _("The invitation for %(email)s is already revoked.") % names,
            code="invitation_revoked",
        )
    was = invitation.state
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit(
        action="invitation.revoked",
        organization=invitation.organization,
        actor=actor_membership.user,
        target=invitation.email,
        details={"role": invitation.role.slug, "was": was},
        ip=ip,
    )
    return invitation


# ------------------------------------------------------------------- the email


def _invitation_message(
    invitation: Invitation, token: str, *, uses_sso: bool
) -> tuple[str, str, str]:
    """The invitation email: subject, text and HTML, with the accept link."""
    organization = invitation.organization
    inviter = invitation.invited_by
    inviter_label = (
        _("%(name)s (%(email)s)") % {"name": inviter.name, "email": inviter.email}
        if inviter and inviter.name
        else (inviter.email if inviter else organization.name)
    )
    context = {
        "organization_name": organization.name,
        "inviter": inviter_label,
        "role": invitation.role.name,
        "expires_at": invitation.expires_at,
        "accept_url": accept_url(token),
        "uses_sso": uses_sso,
        "email": invitation.email,
    }
    subject = _("%(inviter)s invited you to join %(organization)s") % {
        "inviter": inviter_label,
        "organization": organization.name,
    }
    return (
        subject,
        render_to_string("invitations/email/invitation.txt", context),
        render_to_string("invitations/email/invitation.html", context),
    )


def invitation_email_wanted(email: OutboundEmail) -> bool:
    """Whether an outbox invitation email may still go out: the invitation is
    pending and its link is the one in the email (never a dead link)."""
    invitation = Invitation.objects.filter(pk=email.ref.get("invitation_id")).first()
    return (
        invitation is not None
        and invitation.token_hash == email.ref.get("token_hash")
        and invitation.state == "pending"
    )


def invitation_email_sent(email: OutboundEmail) -> None:
    """Record that an invitation email went out: the counter, and an audit row."""
    invitation_id = email.ref.get("invitation_id")
    with transaction.atomic():
        Invitation.objects.filter(pk=invitation_id).update(
            last_sent_at=timezone.now(), send_count=F("send_count") + 1
        )
        audit(
            action="invitation.email_sent",
            organization=email.organization,
            actor=None,
            target=email.to,
            details={"invitation_id": invitation_id, "email_id": email.pk},
        )


@transaction.atomic
def invitation_email_requeue(*, invitation_id: int, sealed_token: str) -> bool:
    """Move an email queued before the outbox (a task message carrying the
    token, encrypted) into the outbox. False when its link is dead by now."""
    token = decrypt_secret(sealed_token)
    invitation = (
        Invitation.objects.select_related("organization", "role", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if (
        invitation is None
        or invitation.token_hash != token_hash(token)
        or invitation.state != "pending"
    ):
        return False
    _queue_email(invitation, token)
    return True


# ------------------------------------------------------------------- accepting


class InvitationLinkError(ServiceError):
    """An invitation link that does not work; ``status`` is the HTTP status."""

    def __init__(self, message: str, *, code: str, status: int = 410) -> None:
        super().__init__(message, code=code)
        self.status = status


def _check_open(invitation: Invitation) -> None:
    names = {"organization": invitation.organization.name}
    if invitation.accepted_at:
        raise InvitationLinkError(
            _(
                "This invitation to %(organization)s was already used. If it was "
                "you, sign in instead."
            )
            % names,
            code="invitation_used",
        )
    if invitation.revoked_at:
        raise InvitationLinkError(
            _(
                "This invitation to %(organization)s was revoked. Ask whoever "
                "invited you for a new one."
            )
            % names,
            code="invitation_revoked",
        )
    if _is_expired(invitation):
        raise InvitationLinkError(
            _(
                "This invitation to %(organization)s expired on %(expired)s UTC. "
                "Ask whoever invited you to send it again."
            )
            % {**names, "expired": f"{invitation.expires_at:%Y-%m-%d %H:%M}"},
            code="invitation_expired",
        )


def _by_token(token: str, *, lock: bool) -> Invitation:
    invalid = InvitationLinkError(
        _(
            "This invitation link does not work. It may have been mistyped, or "
            "replaced by a newer email: use the link in the most recent one, or "
            "ask whoever invited you to send it again."
        ),
        code="invitation_link_invalid",
        status=404,
    )
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    rows = Invitation.objects.select_related("organization", "role", "invited_by")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(token_hash=token_hash(token)).first()
    if invitation is None:
        raise invalid
    _check_open(invitation)
    return invitation


def invitation_from_token(token: str) -> Invitation:
    """The pending invitation a link names, or InvitationLinkError saying why not."""
    return _by_token(token, lock=False)


def _email_mismatch(invitation: Invitation, email: str) -> ServiceError:
    return ServiceError(
        _(
            "This invitation is for %(invited)s, but you signed in as %(email)s. "
            "Nothing was accepted: sign in as %(invited)s, or ask for an "
            "invitation to the address you use."
        )
        % {"invited": invitation.email, "email": email},
        code="email_mismatch",
    )


def _join(invitation: Invitation, user: User, ip: str | None) -> Membership:
    """The membership an invitation accepted without SSO gives."""
    organization = invitation.organization
    role = invitation.role
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("role")
        .filter(organization=organization, user=user)
        .first()
    )
    if membership is None:
        membership = Membership.objects.create(
            user=user,
            organization=organization,
            role=role,
            source=Membership.Source.INVITATION,
            invited_role=role.slug,
        )
        audit(
            action="membership.created",
            organization=organization,
            actor=user,
            target=user.email,
            details={"role": role.slug, "by": "invitation"},
            ip=ip,
        )
    elif membership.directory_suspended:
        # Only the directory that deprovisioned them brings them back.
        raise directory_suspended_refusal()
    elif not membership.is_active:
        before = membership.role.slug
        membership.is_active = True
        if before != Role.Slug.OWNER:
            membership.role = role
        membership.invited_role = role.slug
        membership.save(update_fields=["is_active", "role", "invited_role"])
        audit(
            action="membership.reactivated",
            organization=organization,
            actor=user,
            target=user.email,
            details={"before": before, "after": membership.role.slug},
            ip=ip,
        )
    else:
        # An active member keeps their role (roles change on the Members page),
        # but later SSO sign-ins that match no mapping fall back to this one.
        membership.invited_role = role.slug
        membership.save(update_fields=["invited_role"])
    return membership


def _refuse_if_sso_live(invitation: Invitation) -> None:
    if sso_is_live(invitation.organization):
        raise ServiceError(
            _(
                "%(organization)s signs in through single sign-on now. Open the "
                "invitation link again to continue with SSO."
            )
            % {"organization": invitation.organization.name},
            code="sso_live",
        )


def sso_coming_refusal(organization: Organization) -> str:
    return _(
        "%(organization)s is switching to single sign-on, so this invitation "
        "creates no password account: you will join by signing in through its "
        "identity provider. Open this link again once the owner has switched "
        "single sign-on on."
    ) % {"organization": organization.name}


@transaction.atomic
def invitation_accept_with_password(
    *, token: str, password: str, name: str = "", ip: str | None = None
) -> tuple[User, Membership]:
    """Accept before SSO is live: create a password account and its membership."""
    invitation = _by_token(token, lock=True)
    _refuse_if_sso_live(invitation)
    if sso_is_tested(invitation.organization):
        raise ServiceError(
            sso_coming_refusal(invitation.organization), code="sso_coming"
        )
    # Optional, but shown in the subjects of the invitations this person sends.
    name = name_clean(name, what=_("person"), max_length=150) if name.strip() else ""
    if User.objects.filter(email=invitation.email).exists():
        raise ServiceError(
            _(
                "An account for %(email)s already exists. Sign in first, then open "
                "the invitation link again."
            )
            % {"email": invitation.email},
            code="account_exists",
        )
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=invitation.email,
                password=password,
                name=name,
            )
    except IntegrityError as exc:  # the same person, twice at once
        raise ServiceError(
            _(
                "An account for %(email)s was just created. Sign in, then open the "
                "invitation link again."
            )
            % {"email": invitation.email},
            code="account_exists",
        ) from exc
    audit(
        action="user.signed_up",
        organization=invitation.organization,
        actor=user,
        target=user.email,
        details={"by": "invitation"},
        ip=ip,
    )
    # The link came to this address: whoever chose the password holds it.
    user_email_prove(user=user, via="invitation", ip=ip)
    membership = _join(invitation, user, ip)
    invitation_mark_accepted(invitation=invitation, user=user, ip=ip, via="password")
    return user, membership


@transaction.atomic
def invitation_accept_for_user(
    *, token: str, user: User, ip: str | None = None
) -> Membership:
    """Accept before SSO is live, as the signed-in user (same email only)."""
    invitation = _by_token(token, lock=True)
    _refuse_if_sso_live(invitation)
    if user.email.lower() != invitation.email:
        raise _email_mismatch(invitation, user.email)
    # The link came to this address, opened in a session of the account.
    user_email_prove(user=user, via="invitation", ip=ip)
    membership = _join(invitation, user, ip)
    invitation_mark_accepted(invitation=invitation, user=user, ip=ip, via="account")
    return membership


def invitation_for_signin(
    *, organization: Organization, invitation_id: int | None, email: str
) -> Invitation | None:
    """The invitation an SSO sign-in accepts, if any.

    With ``invitation_id`` (from the session the accept link started): that
    invitation, which must be for ``email`` (case-insensitive), else a
    ServiceError naming the expected address; a ServiceError too when it was
    revoked or expired meanwhile. Already accepted by then: None. An id from
    another organization is ignored. Without one: the open invitation for
    ``email`` in ``organization``, if any.
    """
    email = canonical_email(email)
    if invitation_id is not None:
        invitation = (
            Invitation.objects.select_related("role", "organization")
            .filter(pk=invitation_id, organization=organization)
            .first()
        )
        if invitation is not None:
            if invitation.email != email:
                raise _email_mismatch(invitation, email or "an account without email")
            if invitation.accepted_at:
                return None
            _check_open(invitation)
            return invitation
    if not email:
        return None
    # Every sign-in asks, and there is rarely one: a lean query (at most one
    # open invitation per address), without ordering or the organization.
    try:
        invitation = Invitation.objects.select_related("role").get(
            organization=organization,
            email=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
    except Invitation.DoesNotExist:
        return None
    invitation.organization = organization
    return invitation


@transaction.atomic
def invitation_mark_accepted(
    *,
    invitation: Invitation,
    user: User,
    ip: str | None = None,
    via: str = "sso",
) -> Invitation:
    """Close the invitation as accepted by ``user`` (audited). Works once."""
    row = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("organization", "role")
        .get(pk=invitation.pk)
    )
    if row.accepted_at and row.accepted_by_id == user.pk:
        return row
    _check_open(row)
    if user.email.lower() != row.email:
        raise _email_mismatch(row, user.email)
    row.accepted_at = timezone.now()
    row.accepted_by = user
    row.save(update_fields=["accepted_at", "accepted_by"])
    audit(
        action="invitation.accepted",
        organization=row.organization,
        actor=user,
        target=row.email,
        details={"role": row.role.slug, "via": via},
        ip=ip,
    )
    invitation.accepted_at, invitation.accepted_by = row.accepted_at, user
    return row


# ------------------------------------------------------------ expiry and reads


def invitations_mark_expired() -> int:
    """Mark (and audit) open invitations past their expiry. Returns how many."""
    marked = 0
    while True:
        with transaction.atomic():
            now = timezone.now()
            batch = list(
                Invitation.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("organization", "role")
                .filter(
                    accepted_at__isnull=True,
                    revoked_at__isnull=True,
                    expired_marked_at__isnull=True,
                    expires_at__lte=now,
                )
                .order_by("pk")[:EXPIRE_BATCH]
            )
            if not batch:
                return marked
            Invitation.objects.filter(pk__in=[i.pk for i in batch]).update(
                expired_marked_at=now
            )
            for invitation in batch:
                audit(
                    action="invitation.expired",
                    organization=invitation.organization,
                    actor=None,
                    target=invitation.email,
                    details={
                        "role": invitation.role.slug,
                        "expires_at": invitation.expires_at.isoformat(),
                    },
                )
            marked += len(batch)


def _state_filter(state: str) -> Q:
    now = timezone.now()
    open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
    return {
        "pending": open_ & Q(expires_at__gt=now),
        "expired": open_ & Q(expires_at__lte=now),
        "accepted": Q(accepted_at__isnull=False),
        "revoked": Q(accepted_at__isnull=True, revoked_at__isnull=False),
    }[state]


def invitations_page(
    organization: Organization, number: int, size: int, state: str = ""
) -> Page[Invitation]:
    """One page of the organization's invitations, newest first (2 queries)."""
    rows = Invitation.objects.filter(organization=organization).select_related(
        "role", "invited_by", "accepted_by"
    )
    if state in STATES:
        rows = rows.filter(_state_filter(state))
    return Paginator(rows.order_by("-created_at", "-id"), size).get_page(number)
