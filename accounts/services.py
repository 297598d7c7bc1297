"""Accounts: the owner's sign-up, and proving that an address belongs to
whoever holds the account.

Sign-up creates nothing anyone can see: it keeps what was asked for (the
password's hash, the organization's name and login path) in a PendingSignup
and emails a link. The link creates the owner and the organization, in one
step, when it is opened with the password chosen at sign-up: whoever does so
holds the mailbox and the password, so the address is proven from the start.
The link alone does nothing, because anyone can type anyone's address into the
sign-up form.

Sign-up answers the same whether or not the address has an account, and
leaves nothing behind that differs (no account, no organization, no login path
taken); the account's owner is emailed instead. Emails to an address that
nobody signed in asked for are few: one link a minute, one notice a quarter of
an hour, ADDRESS_EMAILS_PER_DAY in all a day.

Accounts that sign-up made before PendingSignup (owners with an unproven
address) prove it by the link the console's banner sends: it works only for
whoever also holds the account (its password, or a session of it). Until
then the account may not do what decides who gets into an organization
(organizations.permissions), and single sign-on never signs into it
(connections.services.sso). docs/ARCHITECTURE.md, "Security model", lists
every proof and what it unlocks.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.models import PendingSignup, User, canonical_email
from domains.names import email_domain
from domains.services import verified_domain_org
from organizations.errors import ServiceError
from organizations.mail import email_enqueue
from organizations.models import Organization, OutboundEmail
from organizations.services import (
    audit,
    login_path_validate,
    organization_create,
    organization_name_validate,
)

__all__ = [
    "EMAIL_PROOF_KIND",
    "PASSWORD_RESET_KIND",
    "SIGNUP_LINK_KIND",
    "SIGNUP_NOTICE_KIND",
    "AddressBelongsToOrganization",
    "EmailProofLinkError",
    "SignupRefused",
    "SignupResult",
    "email_proof_email_queue",
    "email_proof_email_sent",
    "email_proof_email_wanted",
    "email_proof_token",
    "email_proof_user",
    "owner_signup",
    "owner_signup_confirm",
    "password_reset_email_queue",
    "pending_signups_prune",
    "signup_link_email_sent",
    "signup_link_email_wanted",
    "signup_link_token",
    "signup_login_path_refusal",
    "signup_notice_email_queue",
    "signup_notice_email_sent",
    "signup_notice_email_wanted",
    "signup_pending",
    "user_email_prove",
    "user_email_prove_by_link",
    "user_email_proof_resend",
    "user_validate_email_free",
]

EMAIL_PROOF_SALT = "accounts.email-proof"
SIGNUP_LINK_SALT = "accounts.signup-link"
# Longer than any link we make; anything longer is not worth verifying.
MAX_TOKEN_LENGTH = 200
# Emails to an address that nobody signed in asked for (sign-up's links and
# "someone tried to sign up" notices, the banner's new links): one link a
# minute, one notice a quarter of an hour, and ADDRESS_EMAILS_PER_DAY of them
# in all per ADDRESS_EMAILS_WINDOW, counted per address in the cache. Nobody
# can use the console to flood someone's inbox.
RESEND_INTERVAL = 60
SIGNUP_NOTICE_INTERVAL = 15 * 60
ADDRESS_EMAILS_PER_DAY = 5
ADDRESS_EMAILS_WINDOW = 24 * 60 * 60
# Wrong passwords typed on a sign-up link's page before the link stops working.
SIGNUP_LINK_MAX_FAILURES = 5
# The outbox's names for accounts' emails (organizations.mail).
EMAIL_PROOF_KIND = "email_proof"
SIGNUP_LINK_KIND = "signup_link"
SIGNUP_NOTICE_KIND = "signup_notice"
PASSWORD_RESET_KIND = "password_reset"


class SignupRefused(ServiceError):
    """A sign-up refused because of one of its fields (``field``)."""

    def __init__(self, field: str, sentence: str, *, code: str) -> None:
        super().__init__(sentence, code=code)
        self.field = field


class AddressBelongsToOrganization(SignupRefused):
    """The address's domain is verified by an organization: its people sign in
    through it (``sso_live``) or join by its invitation, never by sign-up."""

    def __init__(self, *, organization: Organization, domain: str, sso_live: bool):
        names = {"domain": domain, "organization": organization.name}
        if sso_live:
            sentence = _(
                "%(domain)s belongs to %(organization)s on this console, so "
                "addresses in it cannot sign up here: sign in through its single "
                "sign-on, or sign up with another address."
            )
        else:
            sentence = _(
                "%(domain)s belongs to %(organization)s on this console, so "
                "addresses in it cannot sign up here: ask its administrators to "
                "invite you, or sign up with another address."
            )
        super().__init__(
            "email", sentence % names, code="address_belongs_to_organization"
        )
        self.organization = organization
        self.sso_live = sso_live


class EmailProofLinkError(ServiceError):
    """A confirmation link that does not work; ``status`` is the HTTP status."""

    def __init__(self, sentence: str, *, code: str, status: int = 400) -> None:
        super().__init__(sentence, code=code)
        self.status = status


@dataclass(frozen=True)
class SignupResult:
    """What a sign-up says: the same whether or not the address had an
    account, so there is nothing else to tell."""

    email: str


# ------------------------------------------------------------------- sign-up


def user_validate_email_free(email: str) -> str:
    """The canonical address, or ServiceError when it has an account (for
    operators' commands: sign-up never says so)."""
    email = canonical_email(email)
    if User.objects.filter(email=email).exists():
        raise ServiceError(
            _(
                "An account with this email already exists. Sign in instead, or "
                "reset your password if you have forgotten it."
            ),
            code="account_exists",
        )
    return email


def _sso_is_live(organization: Organization) -> bool:
    # Through the reverse relation: connections sits above accounts.
    return organization.connections.filter(live__isnull=False).exists()


def _refuse_claimed_domain(email: str) -> None:
    domain = email_domain(email)
    claimed = verified_domain_org(domain) if domain else None
    if domain and claimed is not None:
        raise AddressBelongsToOrganization(
            organization=claimed, domain=domain, sso_live=_sso_is_live(claimed)
        )


@transaction.atomic
def owner_signup(
    *, email: str, password: str, org_name: str, login_path: str, ip: str | None
) -> SignupResult:
    """Ask for the owner's account and their organization: keep what was asked
    for in a PendingSignup and email the link that makes them
    (owner_signup_confirm). Nothing else is created, and the login path is not
    taken, until then.

    Refuses (SignupRefused, naming the field) an address whose domain an
    organization verified (AddressBelongsToOrganization), a bad organization
    name or login path. An address that has an account gets the same result
    and leaves as little behind; its owner is emailed instead.
    """
    email = canonical_email(email)
    _refuse_claimed_domain(email)
    try:
        org_name = organization_name_validate(org_name)
    except ServiceError as exc:
        raise SignupRefused("org_name", str(exc), code=exc.code) from exc
    try:
        login_path = login_path_validate(login_path)
    except ServiceError as exc:
        raise SignupRefused("login_path", str(exc), code=exc.code) from exc

    # The same work either way, so the answer takes as long: one password
    # hash, one audit row, at most one email.
    password_hash = make_password(password)
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        _signup_attempted(existing, ip)
    else:
        _signup_pending(
            email=email,
            password_hash=password_hash,
            org_name=org_name,
            login_path=login_path,
            ip=ip,
        )
    return SignupResult(email=email)


def _signup_pending(
    *, email: str, password_hash: str, org_name: str, login_path: str, ip: str | None
) -> None:
    """Keep a sign-up for an address without an account, and email its link
    (unless the address had its emails for now: the answer is the same)."""
    audit(
        action="user.signup_requested",
        organization=None,
        actor=None,
        target=email,
        details={"login_path": login_path},
        ip=ip,
    )
    if _address_email_refusal(email, what="link", interval=RESEND_INTERVAL):
        return
    now = timezone.now()
    pending = PendingSignup.objects.create(
        email=email,
        password=password_hash,
        org_name=org_name,
        login_path=login_path,
        created_at=now,
        expires_at=now + timedelta(seconds=_max_age()),
    )
    _queue_signup_link(pending)


def _signup_attempted(user: User, ip: str | None) -> None:
    """Audit a sign-up for an address that has an account; email its owner
    (at most once per SIGNUP_NOTICE_INTERVAL, within the daily count)."""
    audit(
        action="user.signup_attempted",
        organization=None,
        actor=None,
        target=user.email,
        ip=ip,
    )
    if user.is_active and not _address_email_refusal(
        user.email, what="notice", interval=SIGNUP_NOTICE_INTERVAL
    ):
        _queue_signup_notice(user)


def _address_email_refusal(
    email: str, *, what: Literal["link", "notice"], interval: int
) -> Literal["", "too_soon", "daily_limit"]:
    """Whether one more email of ``what`` may go to ``email`` now: "" if so,
    and it is counted; else why not. At most one per ``interval`` seconds
    for each ``what``, and ADDRESS_EMAILS_PER_DAY of all of them per
    ADDRESS_EMAILS_WINDOW (from the first). The cache's add and incr are
    atomic, so requests at once cannot pass the count together."""
    digest = _address_digest(email)
    if not cache.add(f"accounts:mail:{what}:{digest}", True, interval):
        return "too_soon"
    day = f"accounts:mail:day:{digest}"
    cache.add(day, 0, ADDRESS_EMAILS_WINDOW)
    try:
        sent = cache.incr(day)
    except ValueError:  # the window ended between add and incr
        cache.add(day, 1, ADDRESS_EMAILS_WINDOW)
        sent = 1
    return "" if sent <= ADDRESS_EMAILS_PER_DAY else "daily_limit"


# ------------------------------------------------------ finishing a sign-up


def signup_link_token(pending: PendingSignup) -> str:
    """The signed, expiring token of the link that finishes ``pending``."""
    return signing.dumps({"s": str(pending.pk)}, salt=SIGNUP_LINK_SALT)


def _signup_link_used() -> EmailProofLinkError:
    return EmailProofLinkError(
        _(
            "This link does not work any more: it was used, or replaced by a "
            "newer sign-up's, or the password was typed wrong too many times. "
            "Sign in if you finished signing up; otherwise sign up again."
        ),
        code="signup_link_used",
        status=410,
    )


def _signed_link_data(
    token: str,
    *,
    salt: str,
    invalid: EmailProofLinkError,
    expired: EmailProofLinkError,
) -> Any:
    """What an emailed link's signed token holds, or the refusal to raise: one
    reading for every link this app emails."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise invalid
    try:
        return signing.loads(token, salt=salt, max_age=_max_age())
    except signing.SignatureExpired as exc:
        raise expired from exc
    except signing.BadSignature as exc:
        raise invalid from exc


def signup_pending(token: str) -> PendingSignup:
    """The sign-up a link names, still waiting, or EmailProofLinkError saying
    why the link does not work."""
    invalid = EmailProofLinkError(
        _(
            "This confirmation link does not work: it is incomplete, or was "
            "changed. Use the link in the most recent email, or sign up again."
        ),
        code="signup_link_invalid",
    )
    data = _signed_link_data(
        token,
        salt=SIGNUP_LINK_SALT,
        invalid=invalid,
        expired=EmailProofLinkError(
            _(
                "This confirmation link expired, and nothing was created. Sign up "
                "again for a new one."
            ),
            code="signup_link_expired",
            status=410,
        ),
    )
    key = data.get("s") if isinstance(data, dict) else None
    try:
        pk = uuid.UUID(key) if isinstance(key, str) else None
    except ValueError:
        pk = None
    if pk is None:
        raise invalid
    pending = PendingSignup.objects.filter(pk=pk, expires_at__gt=timezone.now()).first()
    if pending is None:
        raise _signup_link_used()
    if User.objects.filter(email=pending.email).exists():
        raise _account_exists_now(pending.email)
    return pending


def _account_exists_now(email: str) -> EmailProofLinkError:
    return EmailProofLinkError(
        _(
            "%(email)s has an account now, so this link has nothing left to do. "
            "Sign in, or reset the password if you have forgotten it."
        )
        % {"email": email},
        code="signup_account_exists",
        status=409,
    )


def signup_login_path_refusal(pending: PendingSignup) -> str:
    """Why the login path ``pending`` asked for cannot be had any more (taken
    meanwhile), as a sentence; "" when it can."""
    try:
        login_path_validate(pending.login_path)
    except ServiceError as exc:
        return str(exc)
    return ""


def owner_signup_confirm(
    *, token: str, password: str, login_path: str | None = None, ip: str | None
) -> User:
    """Finish a sign-up from its emailed link, with the password chosen at
    sign-up: create the owner, their address proven (they hold the mailbox and
    the password), and the organization, in one step; the address's other
    pending sign-ups end. ``login_path`` replaces the one asked for (taken
    meanwhile).

    Raises EmailProofLinkError (the link does not work),
    AddressBelongsToOrganization (its domain was verified meanwhile), or
    SignupRefused naming "password" or "login_path".
    """
    pending = signup_pending(token)
    if not check_password(password, pending.password):
        _signup_link_failed(pending)
        raise SignupRefused(
            "password",
            _(
                "That is not the password chosen at sign-up. Type it again; if it "
                "is forgotten, sign up again."
            ),
            code="signup_password_wrong",
        )
    return _owner_signup_complete(pending_id=pending.pk, login_path=login_path, ip=ip)


def _signup_link_failed(pending: PendingSignup) -> None:
    """Count a wrong password, in its own commit; the last one ends the link."""
    rows = PendingSignup.objects.filter(pk=pending.pk)
    rows.update(failed_attempts=F("failed_attempts") + 1)
    rows.filter(failed_attempts__gte=SIGNUP_LINK_MAX_FAILURES).delete()


@transaction.atomic
def _owner_signup_complete(
    *, pending_id: uuid.UUID, login_path: str | None, ip: str | None
) -> User:
    pending = (
        PendingSignup.objects.select_for_update()
        .filter(pk=pending_id, expires_at__gt=timezone.now())
        .first()
    )
    if pending is None:  # finished by a request just before this one
        raise _signup_link_used()
    email = pending.email
    _refuse_claimed_domain(email)  # its domain may have been verified since
    try:
        path = login_path_validate(
            pending.login_path if login_path is None else login_path
        )
    except ServiceError as exc:
        raise SignupRefused("login_path", str(exc), code=exc.code) from exc
    try:
        with transaction.atomic():
            user = User.objects.create(email=email, password=pending.password)
    except IntegrityError as exc:  # made meanwhile (an invitation, SSO)
        raise _account_exists_now(email) from exc
    PendingSignup.objects.filter(email=email).delete()
    audit(
        action="user.signed_up",
        organization=None,
        actor=user,
        target=user.email,
        ip=ip,
    )
    # The link came to this address and was opened with the password.
    user_email_prove(user=user, via="email_link", ip=ip)
    try:
        organization_create(
            name=pending.org_name, login_path=path, owner=user, actor=user, ip=ip
        )
    except ServiceError as exc:  # the login path was taken just now
        raise SignupRefused("login_path", str(exc), code=exc.code) from exc
    return user


def pending_signups_prune() -> int:
    """Delete the sign-ups whose link expired; how many."""
    deleted, _kinds = PendingSignup.objects.filter(
        expires_at__lte=timezone.now()
    ).delete()
    return deleted


# ------------------------------------------------------------ proving an address


def _max_age() -> int:
    return int(settings.EMAIL_PROOF_MAX_AGE)


def _address_digest(email: str) -> str:
    # Binds a link to the address it was sent to, without writing the address
    # into URLs (and so into logs).
    return hashlib.sha256(email.encode()).hexdigest()[:20]


def email_proof_token(user: User) -> str:
    """The signed, expiring token of the link that proves ``user``'s address."""
    return signing.dumps(
        {"u": user.pk, "a": _address_digest(user.email)}, salt=EMAIL_PROOF_SALT
    )


def email_proof_user(token: str) -> User:
    """The account a confirmation link names, or EmailProofLinkError saying why
    the link does not work."""
    invalid = EmailProofLinkError(
        _(
            "This confirmation link does not work: it is incomplete, or was "
            "changed. Use the link in the most recent email, or sign in and choose "
            "“Send the link again”."
        ),
        code="email_proof_link_invalid",
    )
    data = _signed_link_data(
        token,
        salt=EMAIL_PROOF_SALT,
        invalid=invalid,
        expired=EmailProofLinkError(
            _(
                "This confirmation link expired. Sign in and choose “Send the link "
                "again” for a new one."
            ),
            code="email_proof_link_expired",
            status=410,
        ),
    )
    pk = data.get("u") if isinstance(data, dict) else None
    digest = data.get("a") if isinstance(data, dict) else None
    if not isinstance(pk, int) or not isinstance(digest, str):
        raise invalid
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not constant_time_compare(_address_digest(user.email), digest):
        raise invalid
    return user


@transaction.atomic
def user_email_prove(*, user: User, via: str, ip: str | None = None) -> bool:
    """Record that ``user``'s address is proven, ``via`` one of: email_link,
    invitation, password_reset, sso, operator. Audited once; False when it was
    proven already."""
    now = timezone.now()
    updated = User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
        email_verified_at=now
    )
    if not updated:
        return False
    user.email_verified_at = now
    audit(
        action="user.email_proven",
        organization=None,
        actor=user,
        target=user.email,
        details={"via": via},
        ip=ip,
    )
    return True


@transaction.atomic
def user_email_prove_by_link(*, token: str, user: User, ip: str | None) -> User:
    """Prove ``user``'s address by a confirmation link they opened while holding
    the account (signed in, or with its password just checked)."""
    account = email_proof_user(token)
    if account.pk != user.pk:
        raise ServiceError(
            _(
                "This link confirms another address, but you are signed in as "
                "%(email)s. Sign out, then open the link again."
            )
            % {"email": user.email},
            code="email_mismatch",
        )
    user_email_prove(user=account, via="email_link", ip=ip)
    return account


def _queue_email_proof(user: User) -> None:
    """Write the confirmation email to the outbox; it goes out on commit. The
    outbox keeps the link encrypted; the broker only carries the email's id."""
    token = email_proof_token(user)
    _enqueue(
        to=user.email,
        subject=_("Confirm your email address for the SSO console"),
        template="email_proof",
        context={
            "email": user.email,
            "confirm_url": settings.SITE_URL
            + reverse("email_proof_confirm", args=[token]),
            "reset_url": settings.SITE_URL + reverse("password_reset"),
            "days": max(1, _max_age() // (24 * 60 * 60)),
        },
        kind=EMAIL_PROOF_KIND,
        ref={"user_id": user.pk, "address": _address_digest(user.email)},
        # A newer link replaces one not sent yet.
        dedupe_key=f"email-proof:{user.pk}",
    )


@transaction.atomic
def user_email_proof_resend(*, user: User, ip: str | None = None) -> None:
    """Email ``user`` a new confirmation link (one a minute at most, and
    ADDRESS_EMAILS_PER_DAY a day with sign-up's emails to the address)."""
    if user.email_proven:
        raise ServiceError(
            _("Your email address is already confirmed."),
            code="email_already_proven",
        )
    refusal = _address_email_refusal(user.email, what="link", interval=RESEND_INTERVAL)
    if refusal == "too_soon":
        raise ServiceError(
            _(
                "A link was sent less than a minute ago. Check your inbox, and your "
                "spam folder, before asking for another."
            ),
            code="email_proof_too_soon",
        )
    if refusal:
        raise ServiceError(
            _(
                "This address was sent as many links today as it may be. Check your "
                "inbox and your spam folder, or ask again tomorrow."
            ),
            code="email_proof_daily_limit",
        )
    audit(
        action="user.email_proof_requested",
        organization=None,
        actor=user,
        target=user.email,
        ip=ip,
    )
    _queue_email_proof(user)


# --------------------------------------------------------------- the emails


def _enqueue(
    *,
    to: str,
    subject: str,
    template: str,
    context: dict[str, Any],
    kind: str,
    ref: dict[str, Any],
    dedupe_key: str,
) -> None:
    email_enqueue(
        to=to,
        subject=subject,
        text=render_to_string(f"accounts/email/{template}.txt", context),
        html=render_to_string(f"accounts/email/{template}.html", context),
        kind=kind,
        ref=ref,
        dedupe_key=dedupe_key,
    )


def _queue_signup_notice(user: User) -> None:
    """Tell an account's owner, through the outbox, that someone tried to sign
    up with its address. The password-reset link in it is made now and kept
    encrypted until the email is sent."""
    reset_url = ""
    if user.has_usable_password():  # never offer a password to an SSO account
        reset_url = settings.SITE_URL + reverse(
            "password_reset_confirm",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
    _enqueue(
        to=user.email,
        subject=_("Someone tried to sign up with your address"),
        template="signup_notice",
        context={
            "email": user.email,
            "login_url": settings.SITE_URL + reverse("login"),
            "email_login_url": settings.SITE_URL + reverse("email_login"),
            "reset_url": reset_url,
        },
        kind=SIGNUP_NOTICE_KIND,
        ref={"user_id": user.pk},
        dedupe_key=f"signup-notice:{user.pk}",
    )


def _queue_signup_link(pending: PendingSignup) -> None:
    """Write the email with the link that finishes ``pending`` to the outbox,
    which keeps the link encrypted until it is sent."""
    token = signup_link_token(pending)
    _enqueue(
        to=pending.email,
        subject=_("Confirm your email address for the SSO console"),
        template="signup_link",
        context={
            "email": pending.email,
            "confirm_url": settings.SITE_URL + reverse("signup_confirm", args=[token]),
            "days": max(1, _max_age() // (24 * 60 * 60)),
        },
        kind=SIGNUP_LINK_KIND,
        ref={"pending": str(pending.pk)},
        # A newer sign-up's email replaces one not sent yet.
        dedupe_key=f"signup-link:{_address_digest(pending.email)}",
    )


def signup_link_email_wanted(email: OutboundEmail) -> bool:
    """Asked by the outbox before sending: the sign-up still waits, and the
    address has no account."""
    try:
        pk = uuid.UUID(str(email.ref.get("pending", "")))
    except ValueError:
        return False
    pending = PendingSignup.objects.filter(pk=pk, expires_at__gt=timezone.now())
    return (
        pending.exists()
        and not User.objects.filter(email=canonical_email(email.to)).exists()
    )


def signup_link_email_sent(email: OutboundEmail) -> None:
    audit(
        action="user.signup_link_sent",
        organization=None,
        actor=None,
        target=email.to,
        details={"email_id": email.pk},
    )


def _active_user(email: OutboundEmail) -> User | None:
    return User.objects.filter(pk=email.ref.get("user_id"), is_active=True).first()


def email_proof_email_wanted(email: OutboundEmail) -> bool:
    """Asked by the outbox before sending: the account is active, its address
    unproven and still the one the link names."""
    user = _active_user(email)
    return (
        user is not None
        and not user.email_proven
        and constant_time_compare(
            _address_digest(user.email), str(email.ref.get("address", ""))
        )
    )


def signup_notice_email_wanted(email: OutboundEmail) -> bool:
    """Asked by the outbox before sending: the account is still active."""
    return _active_user(email) is not None


def email_proof_email_sent(email: OutboundEmail) -> None:
    audit(
        action="user.email_proof_sent",
        organization=None,
        actor=None,
        target=email.to,
        details={"user_id": email.ref.get("user_id"), "email_id": email.pk},
    )


def signup_notice_email_sent(email: OutboundEmail) -> None:
    audit(
        action="user.signup_notice_sent",
        organization=None,
        actor=None,
        target=email.to,
        details={"user_id": email.ref.get("user_id"), "email_id": email.pk},
    )


def password_reset_email_queue(
    *, to: str, subject: str, text: str, html: str | None
) -> None:
    """Django's password-reset email, rendered by its form, into the outbox."""
    email_enqueue(
        to=to, subject=subject, text=text, html=html, kind=PASSWORD_RESET_KIND
    )


@transaction.atomic
def email_proof_email_queue(*, user_id: int) -> bool:
    """For a confirmation email queued before the outbox (an old task message):
    into the outbox now. False when the account is gone, inactive or proven."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or user.email_proven:
        return False
    _queue_email_proof(user)
    return True


@transaction.atomic
def signup_notice_email_queue(*, user_id: int) -> bool:
    """For a notice queued before the outbox (an old task message): into the
    outbox now. False when the account is gone or inactive."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    _queue_signup_notice(user)
    return True
