"""SSO sign-in: who a verified ID token is, just-in-time provisioning, events.

The protocol work (code exchange, ID token validation) is done before anything
here runs; these functions receive claims that are already verified and decide
what they may do:

* An identity is (connection, issuer, ``sub``), never an email address.
* A first sign-in may link to an existing account, or create one, only when
  the IdP says the email is verified and its domain is verified by *this*
  organization. Whatever the identity, the account signed into must have its
  email in a domain this organization has verified, so one organization's IdP
  can never reach an account that belongs to another's domain.
* Single sign-on never opens an account that has a password but whose address
  was never proven (``User.email_verified_at``): anyone can sign up with
  anyone's address, and that password would keep working. The person claims
  such an account with a password reset, which proves the address and ends
  the other password and sessions. An account this sign-in creates, or one
  without a password, is proven by it.
* The role comes from the role-mapping decision; invitations are honoured and
  invitation-only organizations refuse people without one.

Every attempt, good or bad, is a ``SignInEvent`` with a short reference the
person can give their admin. Events and audit rows never hold a token.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User, canonical_email
from accounts.services import user_email_prove
from connections.delegates import DraftDelegate
from connections.models import (
    Connection,
    ConnectionCheck,
    ConnectionConfig,
    SignInEvent,
    SsoIdentity,
)
from connections.oidc.flow import LoginFlow
from connections.oidc.providers import (
    ProviderProfile,
    ProviderRuleError,
    domains_to_verify,
    email_claim_used,
    email_trust_problem,
    identity_subject,
    profile_for,
    token_problem,
)
from directory.selectors import directory_user_inactive
from domains.names import email_domain
from domains.services import org_has_verified_domain
from invitations.models import Invitation
from invitations.services import invitation_for_signin, invitation_mark_accepted
from organizations.errors import AddressUnproven, PermissionDenied, ServiceError
from organizations.models import Organization
from organizations.permissions import address_allows, role_has_perm
from organizations.services import audit
from rolemapping.directory_members import directory_suspended_refusal
from rolemapping.models import Membership, Role
from rolemapping.provisioning import Decision
from rolemapping.services import (
    decision_for_signin,
    group_names_remember,
    membership_apply,
    membership_for,
    role_for_decision,
)

__all__ = [
    "SignInRefused",
    "SignInResult",
    "flow_targets",
    "new_reference",
    "signin_complete",
    "signin_refusal_limited_record",
    "signin_event_record",
    "signin_test_preview",
    "signin_test_record",
    "signin_test_stage",
    "signin_test_steps",
]

# No 0/O or 1/I: references are read out over the phone.
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_REFERENCE_LENGTH = 10
_MAX_DETAIL_CHARS = 2000
# Refusals before the IdP: one recorded per address, organization and reason.
PRE_IDP_RECORD_INTERVAL = 60
# ... and at most this many such rows per organization in that interval.
PRE_IDP_RECORD_CAP = 30
# Claims never shown in a test sign-in's summary: single-use or hash values
# that mean nothing to an admin.
_HIDDEN_CLAIMS = frozenset({"nonce", "at_hash", "c_hash", "s_hash"})
_MAX_CLAIM_VALUE_CHARS = 300
# Registered claims that hold a time as seconds since 1970 (RFC 7519, OIDC
# Core): shown as a date people read, with the number the token carries.
_TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time", "updated_at"})
_MAX_CLAIM_LIST_ITEMS = 50
_MAX_SUMMARY_CLAIMS = 60


class SignInRefused(ServiceError):
    """A sign-in this product refuses. ``str()`` is the sentence for the person.

    ``step`` names the rule ("email_verified", "email_domain", "role", ...)
    and is the refusal's ``code`` too; ``detail`` is what the organization's
    admins read in the sign-in events.
    """

    def __init__(
        self,
        step: str,
        sentence: str,
        *,
        detail: str = "",
        subject: str = "",
        email: str = "",
    ) -> None:
        super().__init__(sentence, code=step)
        self.step = step
        self.detail = detail or sentence
        self.subject = subject
        self.email = email


@dataclass(frozen=True)
class SignInResult:
    user: User
    membership: Membership
    event: SignInEvent


@dataclass(frozen=True)
class _Evaluation:
    """What a verified sign-in would do, decided without writing anything."""

    subject: str
    issuer: str
    email: str
    identity: SsoIdentity | None
    user: User | None
    membership: Membership | None
    invitation: Invitation | None
    decision: Decision


def new_reference() -> str:
    """A short random reference that ties a person's error page to an event."""
    return "".join(
        secrets.choice(_REFERENCE_ALPHABET) for _ in range(_REFERENCE_LENGTH)
    )


def signin_event_record(
    *,
    organization: Organization,
    connection: Connection | None,
    outcome: str,
    step: str = "",
    detail: str = "",
    subject: str = "",
    email: str = "",
    is_test: bool = False,
    ip: str | None = None,
    reference: str | None = None,
    reached_idp: bool = True,
) -> SignInEvent:
    """Write one sign-in event. ``detail`` must never contain a token."""
    return SignInEvent.objects.create(
        organization=organization,
        connection=connection,
        outcome=outcome,
        step=_storable(step, 40),
        detail=_storable(detail, _MAX_DETAIL_CHARS),
        subject=_storable(subject, 255),
        email=_storable(email, 254),
        reference=reference or new_reference(),
        is_test=is_test,
        ip_address=ip,
        reached_idp=reached_idp,
    )


def _address_bucket(ip: str | None) -> str:
    """The unit a client is rate-limited by: an IPv4 address, or the /64 an
    IPv6 address is in (one host can hold all of a /64)."""
    if not ip:
        return "-"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "-"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def signin_refusal_limited_record(
    *,
    organization: Organization,
    connection: Connection | None,
    step: str,
    detail: str,
    ip: str | None,
    reference: str,
    reached_idp: bool = False,
) -> SignInEvent | None:
    """Record a refusal anyone can cause, without letting anyone fill the table.

    For a sign-in refused before the browser went to the IdP (a link with a
    wrong ``iss``), a callback with a state we did not issue or already used,
    or an IdP error response (whose text is the sender's): at most once per
    client address (an IPv6 /64), organization and reason per
    ``PRE_IDP_RECORD_INTERVAL``, and at most ``PRE_IDP_RECORD_CAP`` such rows
    per organization in that interval. The rest are only logged. Returns None
    when this one was not recorded.
    """
    org_key = f"sso:refusals:{organization.pk}"
    key = f"{org_key}:{_storable(step, 40)}:{_address_bucket(ip)}"
    if not cache.add(key, 1, PRE_IDP_RECORD_INTERVAL):
        return None
    cache.add(org_key, 0, PRE_IDP_RECORD_INTERVAL)
    try:
        recorded = cache.incr(org_key)
    except ValueError:  # expired between add and incr: a new interval
        cache.add(org_key, 1, PRE_IDP_RECORD_INTERVAL)
        recorded = 1
    if recorded > PRE_IDP_RECORD_CAP:
        return None
    return signin_event_record(
        organization=organization,
        connection=connection,
        outcome=SignInEvent.Outcome.FAILURE,
        step=step,
        detail=detail,
        ip=ip,
        reference=reference,
        reached_idp=reached_idp,
    )


def _storable(text: str, limit: int) -> str:
    """``text`` cut to ``limit``, without what a database refuses.

    Messages may quote what an IdP sent (an issuer, an error description),
    which can hold NUL characters or lone surrogates.
    """
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return text[:limit]


def _storable_json(value: Any) -> Any:
    """A check result or steps list (this module's own shapes) made storable."""
    if isinstance(value, str):
        return _storable(value, _MAX_DETAIL_CHARS)
    if isinstance(value, list):
        return [_storable_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _storable_json(v) for k, v in value.items()}
    return value


def flow_targets(flow: LoginFlow) -> tuple[Organization, Connection, ConnectionConfig]:
    """The organization, connection and configuration a sign-in was started for.

    Refuses when the configuration is no longer the one in use (the live one,
    or for a test sign-in the draft): a sign-in started before an admin
    changed the connection must not complete with the old settings.
    """
    # One query: the organization and only the configuration this kind of
    # sign-in uses come along.
    connection = (
        Connection.objects.select_related(
            "organization", "draft" if flow.is_test else "live"
        )
        .filter(pk=flow.connection_id, organization_id=flow.organization_id)
        .order_by()
        .first()
    )
    if connection is None:
        raise SignInRefused(
            "connection",
            _(
                "This organization's single sign-on connection was removed while "
                "you were signing in."
            ),
        )
    config = connection.draft if flow.is_test else connection.live
    if config is None or config.pk != flow.config_id:
        raise SignInRefused(
            "config_changed",
            _(
                "The organization changed its single sign-on settings while you "
                "were signing in. Start again."
            ),
            detail=_(
                "The connection's configuration changed between the start of the "
                "sign-in and the response; the response was not used."
            ),
        )
    if config.issuer_url != flow.issuer:  # configurations are immutable
        raise SignInRefused(
            "config_changed",
            _("The sign-in does not match the connection's issuer."),
        )
    config.connection = connection  # already loaded: spare the backend a query
    return connection.organization, connection, config


def _claimed_email(claims: Mapping[str, Any], email_claim: str) -> str:
    value = claims.get(email_claim)
    if not isinstance(value, str) or not value.isascii():
        # Lower-casing folds some non-ASCII letters onto ASCII ones (KELVIN
        # SIGN to "k"), which would let one verified address reach another's
        # account: only plain ASCII addresses are matched to accounts.
        return ""
    value = canonical_email(value)
    return value if len(value) <= 254 else ""


def _refuse_domain(
    organization: Organization, email: str, subject: str, *, lock: bool = False
) -> None:
    """Refuse unless ``email`` is in a domain ``organization`` has verified;
    with ``lock``, the domain's row stays read-locked until the sign-in ends."""
    domain = email_domain(email) if email else None
    if domain is None or not org_has_verified_domain(organization, domain, lock=lock):
        raise SignInRefused(
            "email_domain",
            _(
                "%(organization)s can only sign in people whose email address is "
                "in one of its verified domains. Ask your administrator which "
                "address to use."
            )
            % {"organization": organization.name},
            detail=_(
                "The email address's domain (%(domain)s) is not verified by this "
                "organization, so the sign-in was refused. Verify the domain, or "
                "check the connection's email claim."
            )
            # Translators: shown in place of a domain when the address has none.
            % {"domain": domain or _("none")},
            subject=subject,
            email=email,
        )


def _provider_refusal(
    problem: ProviderRuleError,
    organization: Organization,
    subject: str,
    email: str,
) -> SignInRefused:
    """The person's sentence for a provider rule; the rule's detail for admins."""
    names = {"organization": organization.name}
    if problem.code == "google_hd":
        sentence = _(
            "Sign in with your %(organization)s Google Workspace account: a "
            "personal Google account, or one of another organization, cannot "
            "be used here."
        )
    elif problem.code == "entra_tenant":
        sentence = _(
            "Sign in with your %(organization)s work account: this Microsoft "
            "account belongs to another organization's directory."
        )
    elif problem.code == "email_edov":
        sentence = _(
            "Your work account's email address is not verified in your "
            "organization's Microsoft Entra ID, so you cannot be signed in. Ask "
            "your administrator and give them the reference below."
        )
    else:
        sentence = _(
            "Your identity provider's answer does not meet the sign-in rules of "
            "%(organization)s, so you cannot be signed in. Ask your "
            "administrator and give them the reference below."
        )
    return SignInRefused(
        problem.code,
        sentence % names,
        detail=problem.detail,
        subject=subject,
        email=email,
    )


def _refuse_untrusted_email(
    organization: Organization,
    profile: ProviderProfile,
    config: ConnectionConfig,
    claims: Mapping[str, Any],
    email: str,
    subject: str,
    *,
    lock: bool,
) -> None:
    """A first sign-in's address must be one the provider vouches for (its
    own rule: email_verified, xms_edov, hd) in a domain this organization
    verified; Google's hosted domain must be verified here too."""
    problem = email_trust_problem(
        profile,
        claims,
        email=email,
        email_claim=email_claim_used(profile, claims, config.email_claim),
        address_in_email_claim=_claimed_email(claims, "email"),
    )
    if problem is not None and problem.code == "email_verified":
        raise SignInRefused(
            "email_verified",
            _(
                "Your identity provider says your email address is not "
                "verified, so you cannot be signed in. Verify it with your "
                "identity provider, or ask your administrator."
            ),
            detail=problem.detail,
            subject=subject,
            email=email,
        )
    if problem is not None:
        raise _provider_refusal(problem, organization, subject, email)
    _refuse_domain(organization, email, subject, lock=lock)
    for domain in domains_to_verify(profile, claims):
        if not org_has_verified_domain(organization, domain, lock=lock):
            raise _provider_refusal(
                ProviderRuleError(
                    "google_hd",
                    _(
                        "The Google account's hosted domain (hd: %(domain)s) is "
                        "not a domain this organization has verified, so it is "
                        "not one of your Google Workspace accounts."
                    )
                    % {"domain": domain[:253]},
                ),
                organization,
                subject,
                email,
            )


def _refuse_unproven(user: User, subject: str) -> None:
    """Refuse an account that has a password and an address nobody proved."""
    if user.email_verified_at is not None or not user.has_usable_password():
        return
    raise SignInRefused(
        "unproven_account",
        _(
            "An account for %(email)s already exists here with a password, and its "
            "address was never confirmed, so single sign-on will not open it. If "
            "the account is yours, sign in with its password and confirm the "
            "address from the banner at the top of the page. If it is not, or you "
            "forgot the password, reset the password at %(reset_url)s: that makes "
            "the account yours. Then sign in here again."
        )
        % {
            "email": user.email,
            "reset_url": f"{settings.SITE_URL}{reverse('password_reset')}",
        },
        detail=_(
            "An account with this address exists with a password, and its address "
            "was never proven (no confirmation link, invitation or password "
            "reset), so it was not signed into: whoever chose that password would "
            "keep it. The person can claim the account with a password reset, then "
            "sign in again."
        ),
        subject=subject,
        email=user.email,
    )


def _evaluate(
    *,
    organization: Organization,
    connection: Connection,
    config: ConnectionConfig,
    claims: Mapping[str, Any],
    invitation_id: int | None,
    lock: bool = False,
) -> _Evaluation:
    """Apply every sign-in rule to verified claims; raise SignInRefused or not.

    Reads only, so the test sign-in can show exactly what a sign-in would do.
    With ``lock`` (a real sign-in, inside its transaction) the membership is
    read locked, once, for the sync that follows.
    """
    profile = profile_for(config.rules_provider)
    issuer = claims["iss"]
    problem = token_problem(profile, issuer, claims)
    if problem is not None:
        raise _provider_refusal(problem, organization, str(claims.get("sub", "")), "")
    subject = identity_subject(profile, claims)
    email = _claimed_email(
        claims, email_claim_used(profile, claims, config.email_claim)
    )
    identity = (
        SsoIdentity.objects.select_related("user")
        .filter(connection=connection, issuer=issuer, subject=subject)
        .order_by()
        .first()
    )
    if identity is not None:
        user: User | None = identity.user
    else:
        # A first sign-in: the email decides which account, so it must be one
        # the IdP verified, in a domain this organization proved it owns.
        if not email:
            raise SignInRefused(
                "email",
                _(
                    "Your identity provider did not send an email address, so you "
                    "cannot be signed in. Ask your administrator to check the app's "
                    "settings."
                ),
                detail=_(
                    "The verified claims have no usable '%(claim)s' claim (it is "
                    "missing, longer than 254 characters, or not plain ASCII). "
                    "Check the connection's email claim and that the 'email' scope "
                    "is granted."
                )
                % {"claim": config.email_claim},
                subject=subject,
            )
        _refuse_untrusted_email(
            organization, profile, config, claims, email, subject, lock=lock
        )
        _refuse_domain(organization, email, subject, lock=lock)
        user = User.objects.filter(email=email).first()
    # Whatever the identity: the account itself must be in this organization's
    # verified domains (a domain can move to another organization later).
    account_email = user.email if user is not None else email
    _refuse_domain(organization, account_email, subject, lock=lock)
    if user is not None and not user.is_active:
        raise SignInRefused(
            "inactive",
            _("Your account is deactivated. Ask your administrator."),
            subject=subject,
            email=account_email,
        )
    if user is not None and (user.is_staff or user.is_superuser):
        # The operators' own accounts are never reachable through a tenant's IdP.
        raise SignInRefused(
            "staff_account",
            _("This account cannot be signed into with single sign-on."),
            detail=_(
                "The email belongs to a staff or superuser account of this "
                "console, which single sign-on never signs into."
            ),
            subject=subject,
            email=account_email,
        )
    if user is not None:
        _refuse_unproven(user, subject)
    membership = (
        membership_for(organization, user, lock=lock) if user is not None else None
    )
    held = (
        membership.directory_suspended
        if membership is not None
        # No membership yet: one the directory provisioned as inactive is not
        # let in just in time either (returning members skip this query).
        else user is not None
        and directory_user_inactive(organization=organization, user_id=user.pk)
    )
    if held:
        refusal = directory_suspended_refusal()
        raise SignInRefused(
            refusal.code,
            str(refusal),
            detail=_(
                "The organization's directory (SCIM) deactivated or deleted this "
                "person; a sign-in does not bring them back until the directory "
                "reactivates them."
            ),
            subject=subject,
            email=account_email,
        )
    try:
        if invitation_id is None and membership is not None and membership.is_active:
            # Nobody is invited while an active member (inviting refuses
            # them): a returning member's sign-in has no invitation to accept.
            invitation = None
        else:
            invitation = invitation_for_signin(
                organization=organization,
                invitation_id=invitation_id,
                email=account_email,
            )
    except ServiceError as exc:
        raise SignInRefused(
            "invitation", str(exc), subject=subject, email=account_email
        ) from exc
    if organization.invitation_only and membership is None and invitation is None:
        raise SignInRefused(
            "invitation_only",
            _(
                "%(organization)s lets people in by invitation only, and there is "
                "no invitation for your email address. Ask an administrator to "
                "invite you."
            )
            % {"organization": organization.name},
            subject=subject,
            email=account_email,
        )
    decision = decision_for_signin(
        organization=organization, claims=claims, groups_claim=config.groups_claim
    )
    if not decision.allowed and membership is None:
        raise SignInRefused(
            "role", decision.reason, subject=subject, email=account_email
        )
    return _Evaluation(
        subject=subject,
        issuer=issuer,
        email=account_email,
        identity=identity,
        user=user,
        membership=membership,
        invitation=invitation,
        decision=decision,
    )


def signin_complete(
    *,
    organization: Organization,
    connection: Connection,
    config: ConnectionConfig,
    claims: Mapping[str, Any],
    invitation_id: int | None = None,
    ip: str | None = None,
) -> SignInResult:
    """Sign a verified identity in: find or provision the account, sync the
    membership, accept an invitation, and record the event.

    Raises SignInRefused (nothing written, except that a member the IdP no
    longer lets in is deactivated, which is kept).
    """
    refusal: SignInRefused | None = None
    with transaction.atomic():
        found = _evaluate(
            organization=organization,
            connection=connection,
            config=config,
            claims=claims,
            invitation_id=invitation_id,
            lock=True,
        )
        user = found.user or _user_provision(
            organization=organization, email=found.email, claims=claims, ip=ip
        )
        if user.email_verified_at is None and not user.has_usable_password():
            # This verified address in a verified domain proves an account
            # that has no password (_evaluate refused those that have one).
            user_email_prove(user=user, via="sso", ip=ip)
        membership = membership_apply(
            organization=organization,
            user=user,
            membership=found.membership,
            decision=found.decision,
            invited_role=found.invitation.role.slug if found.invitation else None,
            ip=ip,
        )
        if membership is None:
            refusal = SignInRefused(
                "role", found.decision.reason, subject=found.subject, email=found.email
            )
        else:
            _identity_link(
                organization=organization,
                connection=connection,
                user=user,
                found=found,
                ip=ip,
            )
            if found.invitation is not None:
                try:
                    invitation_mark_accepted(
                        invitation=found.invitation, user=user, ip=ip
                    )
                except ServiceError as exc:
                    # Revoked or re-sent since _evaluate read it: undo it all.
                    raise SignInRefused(
                        "invitation", str(exc), subject=found.subject, email=user.email
                    ) from exc
            event = signin_event_record(
                organization=organization,
                connection=connection,
                outcome=SignInEvent.Outcome.SUCCESS,
                step="signed_in",
                detail=_granted_detail(membership.role.slug, found.decision),
                subject=found.subject,
                email=user.email,
                ip=ip,
            )
    if refusal is not None:
        raise refusal
    assert membership is not None  # no refusal: membership_apply kept a membership
    return SignInResult(user=user, membership=membership, event=event)


def _granted_detail(role: str, decision: Decision) -> str:
    """Why the member has the role they signed in with."""
    if decision.matched_groups or role == decision.role:
        return _("Signed in as %(role)s. %(reason)s") % {
            "role": role,
            "reason": decision.reason,
        }
    # No mapped group decided it: the role of the invitation they accepted.
    return _(
        "Signed in as %(role)s: the role of their invitation (no mapped group)."
    ) % {"role": role}


def _user_provision(
    *,
    organization: Organization,
    email: str,
    claims: Mapping[str, Any],
    ip: str | None,
) -> User:
    """Create the account of a first sign-in (just in time), its address
    proven by the IdP's verified email in this organization's verified domain."""
    name = claims.get("name")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email,
                name=name[:150] if isinstance(name, str) else "",
                email_verified_at=timezone.now(),
            )
    except IntegrityError:
        # A concurrent first sign-in of the same person created it, or a
        # concurrent sign-up, whose password this sign-in must not adopt.
        user = User.objects.get(email=email)
        _refuse_unproven(user, str(claims.get("sub", "")))
        return user
    audit(
        action="user.provisioned",
        organization=organization,
        actor=user,
        target=user.email,
        details={"by": "sso"},
        ip=ip,
    )
    return user


def _identity_link(
    *,
    organization: Organization,
    connection: Connection,
    user: User,
    found: _Evaluation,
    ip: str | None,
) -> None:
    """Link a first sign-in's identity to the account (audited)."""
    if found.identity is not None:
        return  # already linked; each use is a sign-in event
    try:
        with transaction.atomic():
            SsoIdentity.objects.create(
                user=user,
                connection=connection,
                issuer=found.issuer,
                subject=found.subject,
            )
    except IntegrityError as exc:
        # A concurrent first sign-in linked it: fine if it is the same account.
        existing = SsoIdentity.objects.get(
            connection=connection, issuer=found.issuer, subject=found.subject
        )
        if existing.user_id != user.pk:
            raise SignInRefused(
                "identity", _("Sign-in failed; try again."), subject=found.subject
            ) from exc
        return
    audit(
        action="sso.identity_linked",
        organization=organization,
        actor=user,
        target=user.email,
        details={"connection_id": connection.pk, "issuer": found.issuer},
        ip=ip,
    )


# ------------------------------------------------------------------ test sign-in

# The stages of a test sign-in, as steps on its check page (their names are
# stored with the check, in the language of the test's request).
TEST_STAGES = (
    ("response", gettext_lazy("Response from the identity provider")),
    ("tokens", gettext_lazy("Code exchange and ID token validation")),
    ("email", gettext_lazy("Verified email address in a verified domain")),
    ("role", gettext_lazy("Role from the groups claim")),
)
_RESPONSE_STEPS = frozenset(
    {"discovery", "issuer_mismatch", "iss_param", "idp_error", "code_missing"}
)
_EMAIL_STEPS = frozenset(
    {
        "email",
        "email_verified",
        "email_edov",
        "google_hd",
        "email_domain",
        "inactive",
        "staff_account",
        "unproven_account",
        "invitation",
        "invitation_only",
        "directory_deactivated",
    }
)


def _stage_of(step: str) -> str:
    if step in _RESPONSE_STEPS:
        return "response"
    if step in _EMAIL_STEPS:
        return "email"
    if step == "role":
        return "role"
    return "tokens"


def signin_test_stage(step: str) -> str:
    """Which of a test sign-in's stages (``TEST_STAGES``) a failed step is in;
    "" for no step."""
    return _stage_of(step) if step else ""


def signin_test_steps(
    failed_step: str | None, detail: str, passed_detail: str = ""
) -> list[dict[str, str]]:
    """A test sign-in's steps for its check page: passed up to the step that
    failed (None: none did), failed there, skipped after it."""
    failed_stage = _stage_of(failed_step) if failed_step else None
    steps: list[dict[str, str]] = []
    reached_failure = False
    for key, lazy_name in TEST_STAGES:
        name = str(lazy_name)
        if reached_failure:
            steps.append({"name": name, "status": "skipped", "detail": ""})
        elif key == failed_stage:
            reached_failure = True
            steps.append({"name": name, "status": "failed", "detail": detail})
        else:
            last = key == TEST_STAGES[-1][0]
            steps.append(
                {
                    "name": name,
                    "status": "passed",
                    "detail": passed_detail if last else "",
                }
            )
    return steps


def _claims_summary(claims: Mapping[str, Any]) -> list[dict[str, str]]:
    """The verified claims as readable text, without hash or nonce values."""
    summary: list[dict[str, str]] = []
    for name in sorted(claims)[:_MAX_SUMMARY_CLAIMS]:
        if name in _HIDDEN_CLAIMS:
            continue
        value = claims[name]
        text = _time_display(value) if name in _TIME_CLAIMS else None
        summary.append({"name": name[:100], "value": text or _display(value)})
    return summary


def _time_display(value: Any) -> str | None:
    """``2026-12-02 20:31:05 UTC (1796243465)``; None when not a plausible time."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        when = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{when:%Y-%m-%d %H:%M:%S} UTC ({int(value)})"


def _display(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        text = ", ".join(value[:_MAX_CLAIM_LIST_ITEMS])
        if len(value) > _MAX_CLAIM_LIST_ITEMS:
            text += ", … " + _("(%(count)d in all)") % {"count": len(value)}
    else:
        text = json.dumps(value, default=str)
    return text[:_MAX_CLAIM_VALUE_CHARS]


def signin_test_preview(
    *,
    organization: Organization,
    connection: Connection,
    config: ConnectionConfig,
    claims: Mapping[str, Any],
) -> dict[str, Any]:
    """What signing in with these verified claims would do, writing nothing.

    Returns the check result: claims summary, groups, the role they would get,
    whether the sign-in would be allowed, and why.
    """
    decision = decision_for_signin(
        organization=organization, claims=claims, groups_claim=config.groups_claim
    )
    result: dict[str, Any] = {
        "claims": _claims_summary(claims),
        "subject": str(claims.get("sub", ""))[:255],
        "email": _claimed_email(
            claims,
            email_claim_used(
                profile_for(config.rules_provider), claims, config.email_claim
            ),
        ),
        "groups": list(decision.groups),
        "groups_claim": config.groups_claim,
        "groups_claim_status": decision.groups_claim_status,
        "would_be_role": None,
        "allowed": False,
        "reason": decision.reason,
        "step": "",
    }
    try:
        found = _evaluate(
            organization=organization,
            connection=connection,
            config=config,
            claims=claims,
            invitation_id=None,
        )
    except SignInRefused as exc:
        if exc.step != "invitation_only":
            result.update(step=exc.step, reason=exc.detail)
            return result
        # Invitations are per person: the test still shows the role an
        # invited person would get.
        result["reason"] = f"{exc.detail} {decision.reason}"
        found = None
    if (
        found is not None
        and found.membership is not None
        and (found.membership.role.slug == Role.Slug.OWNER)
    ):
        role: str | None = Role.Slug.OWNER if decision.allowed else None
    else:
        role = role_for_decision(decision, None)
    result.update(
        would_be_role=role,
        allowed=decision.allowed,
        step="" if decision.allowed else "role",
    )
    return result


@transaction.atomic
def signin_test_record(
    *,
    connection: Connection,
    config: ConnectionConfig,
    actor: User | DraftDelegate,
    passed: bool,
    steps: list[dict[str, str]],
    result: dict[str, Any],
    started_at: float | None = None,
    ip: str | None = None,
) -> ConnectionCheck:
    """Record an owner's test sign-in of the draft as a check (and an event).

    ``actor`` may be a :class:`DraftDelegate` (a setup link's IT admin): the
    check then has no ``created_by``, so it never counts as the owner's own
    test sign-in that the first publish needs, and its result carries the
    delegate's key (``by``), so only they and the owner see it.
    The result must hold no token: it is shown on the check page.
    """
    organization = connection.organization
    by: dict[str, Any] = {}
    user: User | None
    if isinstance(actor, DraftDelegate):
        if actor.organization.pk != organization.pk:
            raise PermissionDenied(
                _("Only the organization's owner can run a test sign-in."),
                code="test_signin_owner_only",
            )
        user, by = None, dict(actor.audit_details)
        result = {**result, "by": actor.key}
    else:
        user = actor
        _require_test_signin_owner(actor, organization)
    now = timezone.now()
    reference = result.get("reference") or new_reference()
    check = ConnectionCheck.objects.create(
        connection=connection,
        config=config,
        fingerprint=config.fingerprint,
        kind=ConnectionCheck.Kind.TEST_SIGNIN,
        status=(
            ConnectionCheck.Status.PASSED if passed else ConnectionCheck.Status.FAILED
        ),
        steps=_storable_json(steps),
        result=_storable_json({**result, "reference": reference}),
        created_by=user,
        started_at=(datetime.fromtimestamp(started_at, tz=UTC) if started_at else now),
        finished_at=now,
    )
    signin_event_record(
        organization=organization,
        connection=connection,
        outcome=(
            SignInEvent.Outcome.SUCCESS if passed else SignInEvent.Outcome.FAILURE
        ),
        step=result.get("step") or ("test_signin" if passed else "failed"),
        detail=str(result.get("reason", "")),
        subject=str(result.get("subject", "")),
        email=str(result.get("email", "")),
        is_test=True,
        ip=ip,
        reference=reference,
    )
    labels = result.get("group_labels")
    if isinstance(labels, list):
        # Entra group IDs named by Microsoft Graph: shown on the mapping page.
        group_names_remember(
            organization=organization,
            names={
                str(item.get("id", "")): str(item.get("name", ""))
                for item in labels
                if isinstance(item, dict)
            },
            actor=actor,
            ip=ip,
        )
    audit(
        action="connection.test_signin",
        organization=organization,
        actor=user,
        target=connection.name,
        details={
            "check_id": check.pk,
            "config_id": config.pk,
            "status": check.status,
            **by,
        },
        ip=ip,
    )
    return check


def _require_test_signin_owner(actor: User, organization: Organization) -> None:
    membership = (
        Membership.objects.select_related("role")
        .filter(user=actor, organization=organization, is_active=True)
        .first()
    )
    if membership is None or not role_has_perm(
        membership.role.slug, "connections.manage"
    ):
        raise PermissionDenied(
            _("Only the organization's owner can run a test sign-in."),
            code="test_signin_owner_only",
        )
    if not address_allows(actor, "connections.manage"):
        raise AddressUnproven(actor.email)
