"""OIDC connections: create, edit, publish; the reads sign-in and pages need.

A connection has two configurations. Owners edit the *draft*; every edit writes
a new immutable ``ConnectionConfig`` row and points the draft at it. Sign-in
uses the *live* one. A connection check (``connections.services.checks``)
records the row and fingerprint it tested; publishing points ``live`` at the
draft only when the latest finished check passed for exactly that row and
fingerprint, evaluated under row locks in the publishing transaction, so an
edit racing the publish cannot slip through.

The first publish of an organization enforces SSO, which cannot be undone
(``Organization.save`` refuses to turn it off as well).

Lock order (docs/ARCHITECTURE.md): the organization, then the connection, then
its checks. Publishing locks the first two, editing and checking the
connection only; each ``FOR NO KEY UPDATE``, since none changes a key, so the
``FOR KEY SHARE`` that an audit row's foreign key takes on the organization
never waits for them. A locked row is read alone, its draft afterwards: a
join read under ``FOR UPDATE OF`` would show the draft as it was before a
concurrent edit committed. The services that take several locks run in
``atomic_with_retry``: a deadlock's victim is run once more.

The client secret is written once, encrypted, and read only to send it to the
IdP. No function here returns, logs or audits it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Final

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from connections.delegates import DraftDelegate, acting_as
from connections.models import Connection, ConnectionCheck, ConnectionConfig
from connections.oidc.client_auth import METHODS, PRIVATE_KEY_JWT
from connections.oidc.discovery import issuer_from_input
from connections.oidc.errors import OIDCError
from connections.oidc.providers import issuer_problem, profile_for
from connections.services.signing_keys import signing_key_ensure
from domains.models import Domain
from organizations.crypto import encrypt_secret, rotate_secret
from organizations.errors import PermissionDenied, ServiceError
from organizations.models import Organization
from organizations.permissions import role_has_perm
from organizations.services import (
    audit,
    require_perm,
    require_support,
    support_has_perm,
    support_refusal,
)
from organizations.text import name_clean
from organizations.transactions import atomic_with_retry
from rolemapping.models import GroupRoleMapping, Membership

__all__ = [
    "DEFAULT_SCOPES",
    "MAX_LEEWAY_SECONDS",
    "SUPPORT_PERMISSION",
    "PublishBlocked",
    "connection_create",
    "connection_draft_tested",
    "connection_publish",
    "connection_publish_as_support",
    "connection_publish_blockers",
    "connection_publish_blockers_as_support",
    "connection_secrets_rotate",
    "connection_update",
    "connection_uris",
    "connections_for_org",
    "latest_finished_check",
    "live_connection_at",
    "live_connection_for_org",
]

Kind = ConnectionCheck.Kind
Status = ConnectionCheck.Status
Health = Connection.Health

DEFAULT_SCOPES = "openid email profile groups"
# The Django permission support staff need to check and publish connections
# from the admin (they act outside any membership).
SUPPORT_PERMISSION = "connections.change_connection"
MAX_SECRET_LENGTH = 2000
MAX_LEEWAY_SECONDS = 600
# RFC 6749 3.3 scope-token: printable ASCII without space, '"' or '\'.
_SCOPE_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,100}")
# Claim names may be URLs (namespaced claims), never whitespace or controls.
_CLAIM_RE = re.compile(r"[\x21-\x7e]{1,100}")
_FINISHED = (Status.PASSED, Status.FAILED)
# Why a draft cannot be published: (code, sentence).
Blocker = tuple[str, str]


class PublishBlocked(ServiceError):
    """A publish refused; ``reasons`` holds the code of every blocker in order
    (``draft_not_tested``, ``domain_not_verified``, ...), ``str()`` their
    sentences."""

    def __init__(self, blockers: list[Blocker]) -> None:
        super().__init__(
            " ".join(text for _code, text in blockers), code="publish_blocked"
        )
        self.reasons = tuple(code for code, _text in blockers)


# ---------------------------------------------------------------------------
# Reads shared with the SSO piece and the views


def _latest_live(**where: Any) -> QuerySet[Connection]:
    """The most recently published live connection matching ``where``, with its
    live configuration and organization."""
    return (
        Connection.objects.filter(live__isnull=False, **where)
        .select_related("live", "organization")
        .order_by("-published_at", "-id")
    )


def live_connection_for_org(org: Organization) -> Connection | None:
    """The connection sign-in uses: the most recently published live one."""
    return _latest_live(organization=org).first()


def live_connection_at(login_path: str) -> Connection | None:
    """:func:`live_connection_for_org` of the organization at ``login_path``
    (its stored form), with the organization: one query, for the sign-in start."""
    return _latest_live(organization__login_path=login_path).first()


def connection_uris(org: Organization) -> dict[str, str]:
    """Every URI an IdP admin types into Okta, built from ``SITE_URL``."""
    site = str(settings.SITE_URL).rstrip("/")
    return {
        "redirect_uri": f"{site}/sso/callback/",
        "login_uri": f"{site}/sso/login/{org.login_path}/",
        "initiate_login_uri": f"{site}/sso/initiate/{org.login_path}/",
        "logout_redirect_uri": f"{site}/sso/logged-out/",
        "backchannel_logout_uri": f"{site}/sso/backchannel-logout/",
    }


def _latest(field: str, *, finished: bool) -> Subquery:
    checks = ConnectionCheck.objects.filter(
        connection=OuterRef("pk"), kind__in=(Kind.CHECK, Kind.PERIODIC)
    )
    if finished:
        checks = checks.filter(kind=Kind.CHECK, status__in=_FINISHED)
    return Subquery(checks.order_by("-created_at", "-id").values(field)[:1])


def connections_for_org(org: Organization) -> QuerySet[Connection]:
    """The organization's connections for the list page, in a single query.

    Each carries the latest check (``latest_check_id``/``_status``) and the
    latest finished connection check (``tested_status``, ``tested_config_id``,
    ``tested_fingerprint``), which ``connection_draft_tested`` reads.
    """
    return (
        Connection.objects.filter(organization=org)
        .select_related("draft", "live")
        .annotate(
            latest_check_id=_latest("id", finished=False),
            latest_check_status=_latest("status", finished=False),
            tested_status=_latest("status", finished=True),
            tested_config_id=_latest("config_id", finished=True),
            tested_fingerprint=_latest("fingerprint", finished=True),
        )
        .order_by("created_at", "id")
    )


def latest_finished_check(connection: Connection) -> ConnectionCheck | None:
    """The most recently requested connection check that has finished."""
    return (
        ConnectionCheck.objects.filter(
            connection=connection, kind=Kind.CHECK, status__in=_FINISHED
        )
        .order_by("-created_at", "-id")
        .first()
    )


def connection_draft_tested(
    connection: Connection, latest: ConnectionCheck | None = None
) -> bool:
    """Whether the latest finished check passed for exactly the current draft.

    Uses the annotations of ``connections_for_org`` when present, else
    ``latest`` (or one query).
    """
    draft = connection.draft
    if draft is None:
        return False
    status: str | None
    config_id: int | None
    fingerprint: str | None
    if hasattr(connection, "tested_status"):
        # connections_for_org annotates all three together.
        status = connection.tested_status
        config_id = connection.tested_config_id  # type: ignore[attr-defined]
        fingerprint = connection.tested_fingerprint  # type: ignore[attr-defined]
    else:
        latest = latest if latest is not None else latest_finished_check(connection)
        if latest is None:
            return False
        status, config_id, fingerprint = (
            latest.status,
            latest.config_id,
            latest.fingerprint,
        )
    return (
        status == Status.PASSED
        and config_id == draft.pk
        and fingerprint == draft.fingerprint
    )


# ---------------------------------------------------------------------------
# Create and edit


def _cleaned_config(
    *,
    provider: str,
    issuer_url: str,
    client_id: str,
    scopes: str,
    groups_claim: str,
    email_claim: str,
    leeway_seconds: int,
) -> dict[str, Any]:
    allow_insecure = bool(getattr(settings, "SSO_ALLOW_INSECURE_ISSUERS", False))
    raw_issuer = (issuer_url or "").strip()
    if not raw_issuer:
        raise ServiceError(
            _(
                "Enter the issuer URL, for example 'https://acme.okta.com' or "
                "'https://acme.okta.com/oauth2/default'."
            ),
            code="issuer_missing",
        )
    try:
        issuer = issuer_from_input(raw_issuer, allow_insecure=allow_insecure)
    except OIDCError as exc:
        raise ServiceError(exc.message, code="issuer_invalid") from None
    if len(issuer) > 500:
        raise ServiceError(
            _("The issuer URL must be at most 500 characters."),
            code="issuer_too_long",
        )
    profile = profile_for(provider)
    problem = issuer_problem(profile, issuer)
    if problem is not None:
        raise ServiceError(" ".join(problem), code="issuer_not_single_tenant")
    client_id = (client_id or "").strip()
    if not client_id or len(client_id) > 255 or not client_id.isprintable():
        raise ServiceError(
            _(
                "Enter the client ID from your IdP app (Okta: Applications > your "
                "app > General > Client Credentials), at most 255 characters."
            ),
            code="client_id_invalid",
        )
    # Left empty: the provider's defaults (Entra and Google have no 'groups'
    # scope and refuse unknown ones).
    scope_list = (scopes or profile.scopes).split()
    if any(not _SCOPE_RE.fullmatch(scope) for scope in scope_list):
        raise ServiceError(
            _(
                "Scopes are separated by spaces and may not contain quotes or "
                "backslashes, for example 'openid email profile groups'."
            ),
            code="scopes_invalid",
        )
    if "openid" not in scope_list:
        raise ServiceError(openid_scope_missing(), code="scope_openid_missing")
    scope_list = list(dict.fromkeys(scope_list))
    groups_claim = (groups_claim or "").strip() or profile.groups_claim
    if not _CLAIM_RE.fullmatch(groups_claim):
        raise ServiceError(
            _(
                "The groups claim name must be 1 to 100 characters without spaces, "
                "for example 'groups'."
            ),
            code="groups_claim_name_invalid",
        )
    email_claim = (email_claim or "").strip() or "email"
    if not _CLAIM_RE.fullmatch(email_claim):
        raise ServiceError(
            _(
                "The email claim name must be 1 to 100 characters without spaces, "
                "for example 'email'."
            ),
            code="email_claim_name_invalid",
        )
    try:
        leeway = int(leeway_seconds)
    except (TypeError, ValueError):
        leeway = -1
    if not 0 <= leeway <= MAX_LEEWAY_SECONDS:
        raise ServiceError(
            _("The clock-skew leeway must be 0 to %(max)d seconds; 60 suits most IdPs.")
            % {"max": MAX_LEEWAY_SECONDS},
            code="leeway_invalid",
        )
    return {
        "issuer_url": issuer,
        "client_id": client_id,
        "scopes": " ".join(scope_list),
        "leeway_seconds": leeway,
        "groups_claim": groups_claim,
        "email_claim": email_claim,
    }


def openid_scope_missing() -> str:
    """Why the scopes need ``openid`` (the form says it too)."""
    return _(
        "The scopes must include 'openid'; without it the IdP returns no ID token."
    )


def _secret_missing() -> ServiceError:
    return ServiceError(
        _(
            "Enter the client secret from your IdP app (Okta: Applications > your "
            "app > General > Client Credentials)."
        ),
        code="client_secret_missing",
    )


def _cleaned_secret(client_secret: str) -> str:
    if len(client_secret) > MAX_SECRET_LENGTH or not client_secret.isprintable():
        raise ServiceError(
            _(
                "The client secret is not valid: copy it again from your IdP app "
                "(at most %(max)d characters)."
            )
            % {"max": MAX_SECRET_LENGTH},
            code="client_secret_invalid",
        )
    return client_secret


# An update that leaves the secret's expiry date out keeps the stored one.
UNCHANGED: Final = object()


def _cleaned_auth_method(method: str | None) -> str:
    """The stored method: one of ours, or empty (the IdP's discovery decides)."""
    method = (method or "").strip()
    if method and method not in METHODS:
        raise ServiceError(
            _(
                "Choose how the console authenticates to the IdP's token endpoint: "
                "client_secret_basic, client_secret_post or private_key_jwt."
            ),
            code="token_auth_method_invalid",
        )
    return method


def _secret_not_used() -> ServiceError:
    return ServiceError(
        _(
            "With private_key_jwt the console signs its requests with its own key "
            "and stores no client secret: leave the client secret empty."
        ),
        code="client_secret_not_used",
    )


def _cleaned_expiry(value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ServiceError(
            _("Enter the secret's expiry date as YYYY-MM-DD, or leave it empty."),
            code="secret_expiry_invalid",
        ) from None


def _cleaned_name(name: str, provider: str | None) -> tuple[str, str]:
    name = name_clean(name, what=_("connection"))
    # The contract: scripts that leave the provider out get generic OIDC.
    provider = provider or Connection.Provider.OIDC
    if provider not in Connection.Provider.values:
        raise ServiceError(
            _(
                "Choose the provider: okta, entra (Microsoft Entra ID), google "
                "(Google Workspace) or oidc (any other OpenID Provider)."
            ),
            code="provider_invalid",
        )
    return name, provider


@transaction.atomic
def connection_create(
    *,
    actor_membership: Membership | DraftDelegate,
    name: str,
    issuer_url: str,
    client_id: str,
    client_secret: str,
    provider: str | None = Connection.Provider.OIDC,
    scopes: str = "",
    groups_claim: str = "",
    email_claim: str = "email",
    leeway_seconds: int = 60,
    idp_logout: bool = False,
    groups_from_graph: bool = False,
    token_auth_method: str | None = None,
    client_secret_expires_on: date | str | None = None,
    ip: str | None = None,
) -> Connection:
    """Create a connection whose draft holds the given configuration.

    ``actor_membership`` may be a :class:`DraftDelegate` (a setup link's IT
    admin): the audit row then carries its details instead of a user.
    ``token_auth_method`` left out (or empty): the method the IdP's discovery
    document supports, first of ``client_secret_basic`` and
    ``client_secret_post``. With ``private_key_jwt`` no secret is taken and
    the console generates the connection's signing key.
    """
    org, user, by = acting_as(actor_membership)
    name, provider = _cleaned_name(name, provider)
    fields = _cleaned_config(
        provider=provider,
        issuer_url=issuer_url,
        client_id=client_id,
        scopes=scopes,
        groups_claim=groups_claim,
        email_claim=email_claim,
        leeway_seconds=leeway_seconds,
    )
    method = _cleaned_auth_method(token_auth_method)
    expires_on = _cleaned_expiry(client_secret_expires_on)
    if method == PRIVATE_KEY_JWT:
        if client_secret:
            raise _secret_not_used()
        ciphertext, expires_on = "", None
    elif not client_secret:
        raise _secret_missing()
    else:
        ciphertext = encrypt_secret(_cleaned_secret(client_secret))
    connection = Connection.objects.create(
        organization=org, name=name, provider=provider
    )
    config = ConnectionConfig(
        connection=connection,
        client_secret_encrypted=ciphertext,
        token_auth_method=method,
        client_secret_expires_on=expires_on,
        idp_logout=bool(idp_logout),
        groups_from_graph=bool(groups_from_graph),
        provider=provider,
        created_by=user,
        **fields,
    )
    config.save()
    connection.draft = config
    connection.save(update_fields=["draft"])
    if method == PRIVATE_KEY_JWT:
        signing_key_ensure(connection=connection, actor=user, ip=ip)
    audit(
        action="connection.created",
        organization=org,
        actor=user,
        target=connection.name,
        details={
            "connection_id": connection.pk,
            "provider": provider,
            "issuer": config.issuer_url,
            "client_id": config.client_id,
            "token_auth_method": method,
            "config_id": config.pk,
            **by,
        },
        ip=ip,
    )
    return connection


_AUDITED_FIELDS = (
    "token_auth_method",
    "issuer_url",
    "client_id",
    "scopes",
    "groups_claim",
    "email_claim",
    "leeway_seconds",
    "idp_logout",
    "groups_from_graph",
    "provider",
)


@atomic_with_retry
def connection_update(
    *,
    actor_membership: Membership | DraftDelegate,
    connection: Connection,
    name: str,
    issuer_url: str,
    client_id: str,
    client_secret: str = "",
    provider: str | None = None,
    scopes: str = "",
    groups_claim: str = "",
    email_claim: str = "email",
    leeway_seconds: int = 60,
    idp_logout: bool = False,
    groups_from_graph: bool = False,
    token_auth_method: str | None = None,
    client_secret_expires_on: Any = UNCHANGED,
    ip: str | None = None,
) -> Connection:
    """Edit the draft: a new configuration row, unless nothing changed.

    An empty ``client_secret`` keeps the stored one, ``provider=None`` the
    current provider, ``token_auth_method=None`` the current method, and a
    left-out expiry date the stored one. The live configuration is never
    touched; the new draft needs a passing check before it can be published.
    A new secret is therefore tested before it replaces the one signing in
    now. Only the secret's expiry date changing is written on the draft's row
    itself: sign-in never reads it, so it needs no new check. A
    :class:`DraftDelegate` may edit its organization's drafts too.
    """
    org, user, by = acting_as(actor_membership)
    # The lock serialises this edit with a concurrent publish.
    connection = _locked_connection(connection.pk, org.pk)
    name, provider = _cleaned_name(name, provider or connection.provider)
    fields = _cleaned_config(
        provider=provider,
        issuer_url=issuer_url,
        client_id=client_id,
        scopes=scopes,
        groups_claim=groups_claim,
        email_claim=email_claim,
        leeway_seconds=leeway_seconds,
    )
    draft = connection.draft
    method = _cleaned_auth_method(
        (draft.token_auth_method if draft else "")
        if token_auth_method is None
        else token_auth_method
    )
    if method == PRIVATE_KEY_JWT:
        if client_secret:
            raise _secret_not_used()
        ciphertext = ""
    elif client_secret:
        ciphertext = encrypt_secret(_cleaned_secret(client_secret))
    elif draft is not None and draft.client_secret_encrypted:
        ciphertext = draft.client_secret_encrypted
    else:
        raise _secret_missing()
    if client_secret_expires_on is UNCHANGED:
        # A new secret has an expiry of its own, unknown unless given.
        keep = draft is not None and not client_secret
        expires_on = draft.client_secret_expires_on if keep and draft else None
    else:
        expires_on = _cleaned_expiry(client_secret_expires_on)
    if not ciphertext:
        expires_on = None
    candidate = ConnectionConfig(
        connection=connection,
        client_secret_encrypted=ciphertext,
        token_auth_method=method,
        client_secret_expires_on=expires_on,
        idp_logout=bool(idp_logout),
        groups_from_graph=bool(groups_from_graph),
        provider=provider,
        created_by=user,
        **fields,
    )
    changed = [
        f
        for f in _AUDITED_FIELDS
        if draft is None or getattr(candidate, f) != getattr(draft, f)
    ]
    secret_changed = draft is None or (
        ciphertext != draft.client_secret_encrypted
        and (not client_secret or client_secret != draft.client_secret)
    )
    renamed = (name, provider) != (connection.name, connection.provider)
    expiry_changed = draft is not None and (
        expires_on != draft.client_secret_expires_on
    )
    if not changed and not secret_changed and not renamed and not expiry_changed:
        return connection
    # The provider decides the trust rules: a draft checked under another
    # provider's rules is not the one being published, so it is a new row.
    if changed or secret_changed or provider != connection.provider:
        candidate.save()
        connection.draft = candidate
    elif expiry_changed and draft is not None:
        # Not part of the fingerprint: the row's sign-in fields stay as tested.
        ConnectionConfig.objects.filter(pk=draft.pk).update(
            client_secret_expires_on=expires_on
        )
        draft.client_secret_expires_on = expires_on
    connection.name, connection.provider = name, provider
    connection.save(update_fields=["draft", "name", "provider"])
    if method == PRIVATE_KEY_JWT:
        signing_key_ensure(connection=connection, actor=user, ip=ip)
    audit(
        action="connection.updated",
        organization=org,
        actor=user,
        target=connection.name,
        details={
            "connection_id": connection.pk,
            "changed": changed + (["name/provider"] if renamed else []),
            "client_secret_changed": secret_changed,
            "client_secret_expires_on": (
                expires_on.isoformat() if expires_on else None
            ),
            "config_id": connection.draft_id,
            **by,
        },
        ip=ip,
    )
    return connection


# ---------------------------------------------------------------------------
# Publish: the irreversible switch


def connection_publish_blockers(
    *, connection: Connection, actor: User, organization: Organization | None = None
) -> list[str]:
    """Every reason ``actor`` cannot publish the draft now (empty when allowed)."""
    org = organization or connection.organization
    return [
        text
        for _code, text in _owner_blockers(actor, org)
        + _draft_blockers(connection, org, signed_in_by_id=actor.pk)
    ]


def connection_publish_blockers_as_support(
    *, connection: Connection, actor: User, organization: Organization | None = None
) -> list[str]:
    """:func:`connection_publish_blockers` for support staff in the Django admin.

    The draft must meet the same rules. Staff cannot sign in through the
    organization's IdP, so the first publish needs the owner's passed test
    sign-in of the current draft instead of their own.
    """
    org = organization or connection.organization
    return [text for _code, text in _support_blockers(connection, actor, org)]


def _owner_blockers(actor: User, org: Organization) -> list[Blocker]:
    membership = (
        Membership.objects.select_related("role")
        .filter(user=actor, organization=org, is_active=True)
        .first()
    )
    if membership is None or not role_has_perm(membership.role.slug, "sso.enforce"):
        return [
            (
                "publish_owner_only",
                _(
                    "Only the organization's owner can publish a connection and "
                    "switch the organization to SSO."
                ),
            )
        ]
    return []


def _support_blockers(
    connection: Connection, actor: User, org: Organization
) -> list[Blocker]:
    reasons: list[Blocker] = []
    if not support_has_perm(actor, SUPPORT_PERMISSION):
        reasons.append(("not_support_staff", support_refusal(SUPPORT_PERMISSION)))
    return reasons + _draft_blockers(
        connection, org, signed_in_by_id=org.owner_id, by_support=True
    )


def _draft_blockers(
    connection: Connection,
    org: Organization,
    *,
    signed_in_by_id: int,
    by_support: bool = False,
) -> list[Blocker]:
    """Why the draft itself cannot go live now: test before save, and on the
    first publish (the switch to SSO) what the organization needs first."""
    reasons: list[Blocker] = []
    draft = connection.draft
    if draft is None:
        return [("draft_missing", _("This connection has no configuration yet."))]
    if connection.live_id == draft.pk:
        return [
            (
                "draft_already_live",
                _(
                    "The draft is already live. Edit the connection to change it, "
                    "test it, then publish again."
                ),
            )
        ]
    latest = latest_finished_check(connection)
    if latest is None:
        reasons.append(
            (
                "draft_not_tested",
                _(
                    "The draft has not been tested: run 'Test configuration' and "
                    "wait for it to pass."
                ),
            )
        )
    elif latest.config_id != draft.pk or latest.fingerprint != draft.fingerprint:
        reasons.append(
            (
                "draft_changed_since_check",
                _(
                    "The draft changed after its last check: every change needs a "
                    "passing test before it can be published. Run 'Test "
                    "configuration' again."
                ),
            )
        )
    elif latest.status != Status.PASSED:
        reasons.append(
            (
                "draft_check_failed",
                _(
                    "The last check of the draft failed: fix what it reports, then "
                    "test again."
                ),
            )
        )
    if not org.sso_enforced:
        tested_signin = ConnectionCheck.objects.filter(
            connection=connection,
            config=draft,
            fingerprint=draft.fingerprint,
            kind=Kind.TEST_SIGNIN,
            status=Status.PASSED,
            created_by_id=signed_in_by_id,
        ).exists()
        if not tested_signin:
            reasons.append(("test_signin_missing", _no_test_signin(by_support)))
        if not Domain.objects.filter(
            organization=org, status=Domain.Status.VERIFIED
        ).exists():
            reasons.append(
                (
                    "domain_not_verified",
                    _(
                        "Verify at least one email domain first (Domains page), so "
                        "people can be routed to your IdP by their email address."
                    ),
                )
            )
        if (
            not org.default_role
            and not GroupRoleMapping.objects.filter(organization=org).exists()
        ):
            reasons.append(
                (
                    "no_role_for_signins",
                    _(
                        "Choose a default role or map at least one IdP group to a "
                        "role (Role mapping page), so people who sign in get a role."
                    ),
                )
            )
    return reasons


def _no_test_signin(by_support: bool) -> str:
    if by_support:
        return _(
            "The organization's owner has not signed in with 'Test sign-in' using "
            "the current draft: ask them to, on the connection's page in the "
            "console. It proves the whole sign-in works before everyone depends "
            "on it."
        )
    return _(
        "Sign in once through your IdP with 'Test sign-in' on this page, as "
        "yourself, with the current draft: it proves the whole sign-in works "
        "before everyone depends on it."
    )


@atomic_with_retry
def connection_publish(
    *,
    actor_membership: Membership,
    connection: Connection,
    confirm: str,
    ip: str | None = None,
) -> Connection:
    """Make the draft live; the organization's first publish enforces SSO.

    Refused unless the latest finished check passed for exactly the current
    draft (and, on the first publish, a passed test sign-in by the actor, a
    verified domain and a default role or group mapping exist), and unless
    ``confirm`` is the organization's login path. Evaluated under row locks.
    """
    require_perm(actor_membership, "sso.enforce")
    org, connection = _locked_for_publish(actor_membership.organization_id, connection)
    not_owner = _owner_blockers(actor_membership.user, org)
    if not_owner:
        code, text = not_owner[0]
        raise PermissionDenied(text, code=code)
    reasons = _draft_blockers(connection, org, signed_in_by_id=actor_membership.user.pk)
    if reasons:
        raise PublishBlocked(reasons)
    return _publish_draft(
        org, connection, actor=actor_membership.user, confirm=confirm, ip=ip
    )


@atomic_with_retry
def connection_publish_as_support(
    *,
    actor: User,
    connection: Connection,
    confirm: str,
    ip: str | None = None,
) -> Connection:
    """:func:`connection_publish` for support staff in the Django admin.

    The same rules under the same locks (see
    :func:`connection_publish_blockers_as_support`) and the same typed
    confirmation; audited with ``actor`` and ``{"by": "support"}``.
    """
    require_support(actor, SUPPORT_PERMISSION)
    org, connection = _locked_for_publish(connection.organization_id, connection)
    reasons = _support_blockers(connection, actor, org)
    if reasons:
        raise PublishBlocked(reasons)
    return _publish_draft(
        org, connection, actor=actor, confirm=confirm, ip=ip, by="support"
    )


def _locked_connection(connection_id: int, organization_id: int) -> Connection:
    """The connection, locked ``FOR NO KEY UPDATE`` and read alone; its draft
    is read when first used, after the lock, so it is the committed one."""
    return Connection.objects.select_for_update(no_key=True).get(
        pk=connection_id, organization_id=organization_id
    )


def _locked_for_publish(
    organization_id: int, connection: Connection
) -> tuple[Organization, Connection]:
    """The organization, then the connection (the lock order), both locked."""
    org = Organization.objects.select_for_update(no_key=True).get(pk=organization_id)
    return org, _locked_connection(connection.pk, org.pk)


def _publish_draft(
    org: Organization,
    connection: Connection,
    *,
    actor: User,
    confirm: str,
    ip: str | None,
    by: str = "",
) -> Connection:
    """Point live at the draft, both rows locked and every blocker cleared."""
    if (confirm or "").strip().lower() != org.login_path:
        raise ServiceError(
            _("Type the login path '%(path)s' to confirm that you want to publish.")
            % {"path": org.login_path},
            code="confirmation_mismatch",
        )
    extra = {"by": by} if by else {}
    now = timezone.now()
    first = not org.sso_enforced
    previous_live = connection.live_id
    connection.live = connection.draft
    connection.published_at = now
    # It has just passed a check; the hourly check takes it from here.
    connection.health = Health.PASSING
    connection.save(update_fields=["live", "published_at", "health"])
    audit(
        action="connection.published",
        organization=org,
        actor=actor,
        target=connection.name,
        details={
            "connection_id": connection.pk,
            "config_id": connection.live_id,
            "previous_config_id": previous_live,
            "enforces_sso": first,
            **extra,
        },
        ip=ip,
    )
    if first:
        org.sso_enforced = True
        org.sso_enforced_at = now
        org.save(update_fields=["sso_enforced", "sso_enforced_at"])
        audit(
            action="sso.enforced",
            organization=org,
            actor=actor,
            target=org.login_path,
            details={"connection_id": connection.pk, **extra},
            ip=ip,
        )
    return connection


# ---------------------------------------------------------------------------
# Operations


@transaction.atomic
def connection_secrets_rotate(*, actor: User | None = None) -> int:
    """Re-encrypt every stored client secret with the first key; returns count.

    After putting a new key first in FIELD_ENCRYPTION_KEYS, run this, then the
    old key can be removed. Configuration rows are immutable, so only the
    ciphertext column is rewritten; their fingerprints stay the same.
    """
    count = 0
    rows = ConnectionConfig.objects.select_for_update(no_key=True).values_list(
        "pk", "client_secret_encrypted"
    )
    for pk, ciphertext in list(rows):
        ConnectionConfig.objects.filter(pk=pk).update(
            client_secret_encrypted=rotate_secret(ciphertext)
        )
        count += 1
    audit(
        action="connection.secrets_rotated",
        organization=None,
        actor=actor,
        details={"count": count},
    )
    return count
