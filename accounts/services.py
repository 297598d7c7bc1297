"""Accounts: the owner's sign-up, and proving that an address belongs to
whoever holds the account.

Sign-up creates the owner and the organization in one step, signs nobody in,
and emails a link. The link proves the address only when it is opened by
someone who also holds the account (its password, or a session of it): the
mailbox's owner did not necessarily choose the password, because anyone can
type anyone's address into the sign-up form. Until then the account may not
do what decides who gets into an organization (organizations.permissions),
and single sign-on never signs into it (connections.services.sso).

Sign-up answers the same whether or not the address has an account, and tells
the account's owner by email instead. docs/ARCHITECTURE.md, "Security model",
lists every proof and what it unlocks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.models import User, canonical_email
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
    "password_reset_email_queue",
    "signup_notice_email_queue",
    "signup_notice_email_sent",
    "signup_notice_email_wanted",
    "user_email_prove",
    "user_email_prove_by_link",
    "user_email_proof_resend",
    "user_validate_email_free",
]

EMAIL_PROOF_SALT = "accounts.email-proof"
# Longer than any link we make; anything longer is not worth verifying.
MAX_TOKEN_LENGTH = 200
# One new link a minute, one "someone tried to sign up" email a quarter of an
# hour: nobody can use the console to flood someone's inbox.
RESEND_INTERVAL = 60
SIGNUP_NOTICE_INTERVAL = 15 * 60
# The outbox's names for accounts' emails (organizations.mail).
EMAIL_PROOF_KIND = "email_proof"
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
    """What a sign-up did. ``user`` is None when the address had an account
    already: the caller answers exactly as for a new one."""

    email: str
    user: User | None
    organization: Organization | None


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


@transaction.atomic
def owner_signup(
    *, email: str, password: str, org_name: str, login_path: str, ip: str | None
) -> SignupResult:
    """Create the owner's account and their organization in one step, and email
    a link that proves the address.

    Refuses (SignupRefused, naming the field) an address whose domain an
    organization verified (AddressBelongsToOrganization), a bad organization
    name or login path. An address that has an account gets the same result
    as a new one, without a user; its owner is emailed instead.
    """
    email = canonical_email(email)
    domain = email_domain(email)
    claimed = verified_domain_org(domain) if domain else None
    if domain and claimed is not None:
        raise AddressBelongsToOrganization(
            organization=claimed, domain=domain, sso_live=_sso_is_live(claimed)
        )
    try:
        org_name = organization_name_validate(org_name)
    except ServiceError as exc:
        raise SignupRefused("org_name", str(exc), code=exc.code) from exc
    try:
        login_path = login_path_validate(login_path)
    except ServiceError as exc:
        raise SignupRefused("login_path", str(exc), code=exc.code) from exc

    existing = User.objects.filter(email=email).first()
    user = None
    if existing is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(email=email, password=password)
        except IntegrityError as exc:  # the same address, twice at once
            existing = User.objects.filter(email=email).first()
            if existing is None:
                raise SignupRefused(
                    "email",
                    _("Creating your account failed; try again."),
                    code="account_create_failed",
                ) from exc
    if user is None:
        assert existing is not None  # created by someone else, just now or before
        # As much work as a new account, so the answer takes as long.
        make_password(password)
        _signup_attempted(existing, ip)
        return SignupResult(email=email, user=None, organization=None)

    audit(
        action="user.signed_up",
        organization=None,
        actor=user,
        target=user.email,
        ip=ip,
    )
    try:
        org = organization_create(
            name=org_name, login_path=login_path, owner=user, actor=user, ip=ip
        )
    except ServiceError as exc:  # the login path was taken meanwhile
        raise SignupRefused("login_path", str(exc), code=exc.code) from exc
    _queue_email_proof(user)
    return SignupResult(email=email, user=user, organization=org)


def _signup_attempted(user: User, ip: str | None) -> None:
    """Audit a sign-up for an address that has an account; email its owner
    (at most once per SIGNUP_NOTICE_INTERVAL)."""
    audit(
        action="user.signup_attempted",
        organization=None,
        actor=None,
        target=user.email,
        ip=ip,
    )
    if user.is_active and cache.add(
        f"accounts:signup-notice:{user.pk}", True, SIGNUP_NOTICE_INTERVAL
    ):
        _queue_signup_notice(user)


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
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise invalid
    try:
        data = signing.loads(token, salt=EMAIL_PROOF_SALT, max_age=_max_age())
    except signing.SignatureExpired as exc:
        raise EmailProofLinkError(
            _(
                "This confirmation link expired. Sign in and choose “Send the link "
                "again” for a new one."
            ),
            code="email_proof_link_expired",
            status=410,
        ) from exc
    except signing.BadSignature as exc:
        raise invalid from exc
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
    """Email ``user`` a new confirmation link (one a minute at most)."""
    if user.email_proven:
        raise ServiceError(
            _("Your email address is already confirmed."),
            code="email_already_proven",
        )
    if not cache.add(f"accounts:email-proof:{user.pk}", True, RESEND_INTERVAL):
        raise ServiceError(
            _(
                "A link was sent less than a minute ago. Check your inbox, and your "
                "spam folder, before asking for another."
            ),
            code="email_proof_too_soon",
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
