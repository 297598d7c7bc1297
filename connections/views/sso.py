"""SSO sign-in: organization login, IdP-initiated login, the callback, sign-out,
the email-first page and an owner's test sign-in.

The views are mozilla-django-oidc's, subclassed for many providers: the
request view's own ``get`` makes and stores ``state``, ``nonce`` and the PKCE
verifier, with this request's connection supplied through its hooks
(``get_settings``, ``get_extra_params`` and the endpoint and client id it
reads from the view); ``connections.oidc.flow`` binds that state to the
organization and takes it once in the callback. The protocol work is in
``connections.oidc``, the account rules in ``connections.services.sso``, and
docs/ARCHITECTURE.md says which library methods are replaced and why.
Every failure writes a sign-in event and shows a page with a reference the
person can give their admin, with a 4xx status; it never signs anyone in.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from importlib import import_module
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from accounts.models import User
from accounts.sessions import session_index
from connections.backend import BACKEND_PATH, OrganizationOIDCBackend, VerifiedSignIn
from connections.delegates import DraftDelegate, delegate_for_request
from connections.models import Connection, ConnectionConfig, SignInEvent
from connections.oidc.errors import OIDCError
from connections.oidc.flow import FlowError, flow_bind, flow_consume
from connections.oidc.tokens import validate_authorization_response_iss
from connections.services.connections import live_connection_at, live_connection_for_org
from connections.services.sso import (
    SignInRefused,
    flow_targets,
    new_reference,
    signin_event_record,
    signin_refusal_limited_record,
    signin_test_preview,
    signin_test_record,
    signin_test_steps,
)
from domains.names import email_domain
from domains.services import verified_domain_org
from organizations.access import (
    SSO_SESSION_KEY,
    OrgContext,
    SignedInRequest,
    client_ip,
    local_next,
    org_view,
)
from organizations.errors import ServiceError
from organizations.models import Organization
from organizations.services import login_path_lookup

logger = logging.getLogger(__name__)

# Server-side session keys. The ID token is kept only to end the IdP session
# at sign-out, and only when the connection asks for that.
IDP_LOGOUT_SESSION_KEY = "sso_idp_logout"
LOGOUT_STATE_SESSION_KEY = "sso_logout_state"
PENDING_INVITATION_SESSION_KEY = "pending_invitation_id"
_COOKIE_SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
# The library's session-wide "next" (ours is kept per sign-in, in the flow).
_LIBRARY_NEXT_SESSION_KEY = "oidc_login_next"
# What the library's request view is told whatever the settings say: every
# sign-in has a nonce and a PKCE S256 challenge and comes back to our one
# callback. The sizes (OIDC_STATE_SIZE, OIDC_NONCE_SIZE,
# OIDC_PKCE_CODE_VERIFIER_SIZE) and OIDC_MAX_STATES come from settings.
LIBRARY_FIXED_SETTINGS = MappingProxyType(
    {
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_AUTHENTICATION_CALLBACK_URL": "sso_callback",
    }
)
# The authorization request's own parameters: an endpoint's query string
# (Azure AD B2C's ?p=<policy>) may not replace any of them.
_AUTHORIZATION_PARAMS = frozenset(
    {
        "response_type",
        "scope",
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "login_hint",
    }
)
_MAX_HINT_CHARS = 254
_MAX_ERROR_DESCRIPTION_CHARS = 300


def _protocol_message(organization: Organization) -> str:
    return _(
        "Signing you in through %(organization)s's identity provider did not work, "
        "because of a configuration or connection problem between this site and "
        "the provider. Try again in a moment; if it keeps happening, give your "
        "administrator the reference below."
    ) % {"organization": organization.name}


def _idp_paused_message(organization: Organization) -> str:
    return _(
        "%(organization)s's identity provider is not answering right now, so "
        "sign-in through it is paused for a short while. Nothing is wrong with "
        "your account: try again in a minute. If it lasts, give your "
        "administrator the reference below."
    ) % {"organization": organization.name}


# What a person reads when the callback's state cannot be used, by FlowError step.
FLOW_MESSAGES = {
    "state_missing": gettext_lazy(
        "This sign-in response is incomplete. Start again from your organization's "
        "sign-in page."
    ),
    "state_unknown": gettext_lazy(
        "This sign-in response does not belong to a sign-in started in this "
        "browser. Start again from your organization's sign-in page, in the same "
        "browser."
    ),
    "state_reused": gettext_lazy(
        "This sign-in response was already used. Start again from your "
        "organization's sign-in page."
    ),
    "state_expired": gettext_lazy(
        "The sign-in took too long to complete. Start again from your "
        "organization's sign-in page."
    ),
}


def _access_denied_message(organization: Organization) -> str:
    return _(
        "The identity provider did not sign you in: you cancelled, or you are not "
        "assigned to this app. If you should have access, ask your administrator "
        "to assign you to the app at %(organization)s's identity provider."
    ) % {"organization": organization.name}


# --------------------------------------------------------------------- helpers


def _ttl() -> int:
    return int(getattr(settings, "SSO_STATE_TTL", 600))


def _redirect_uri() -> str:
    return settings.SITE_URL + reverse("sso_callback")


def _printable(value: str, limit: int) -> str:
    value = " ".join(value.split())
    return "".join(ch for ch in value if ch.isprintable())[:limit]


def _login_hint(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > _MAX_HINT_CHARS or any(not ch.isprintable() for ch in value):
        return ""
    return value


def _live_target(login_path: str) -> tuple[Organization | None, Connection | None]:
    """The organization at ``login_path`` and its live connection (None, None
    when there is no such organization); one query when both exist."""
    stored = login_path_lookup(login_path)
    if stored is None:
        return None, None
    connection = live_connection_at(stored)
    if connection is not None:
        return connection.organization, connection
    return Organization.objects.filter(login_path=stored).first(), None


def _error_page(
    request: HttpRequest,
    *,
    message: str,
    reference: str,
    organization: Organization | None = None,
    status: int = 400,
    title: str = "",
) -> HttpResponse:
    retry_url = (
        reverse("sso_login", args=[organization.login_path]) if organization else ""
    )
    return render(
        request,
        "connections/sso/error.html",
        {
            "title": title or _("Sign-in did not work"),
            "message": message,
            "reference": reference,
            "sso_org": organization,
            "retry_url": retry_url,
        },
        status=status,
    )


def _fail(
    request: HttpRequest,
    *,
    organization: Organization | None,
    connection: Connection | None,
    step: str,
    detail: str,
    message: str,
    status: int = 400,
    is_test: bool = False,
    subject: str = "",
    email: str = "",
    before_idp: bool = False,
    anyone_can_send: bool = False,
) -> HttpResponse:
    """Record a failed attempt and show the person a page with its reference.

    ``before_idp``: refused before the browser went to the IdP. That, and
    ``anyone_can_send`` (a response anyone can forge or replay: an unknown or
    used state, an IdP error), are recorded rate-limited, and the page shows
    no reference when this one was not recorded.
    """
    reference = new_reference()
    if organization is not None and (before_idp or anyone_can_send):
        recorded = signin_refusal_limited_record(
            organization=organization,
            connection=connection,
            step=step,
            detail=detail,
            ip=client_ip(request),
            reference=reference,
            reached_idp=not before_idp,
        )
        reference = reference if recorded is not None else ""
    elif organization is not None:
        signin_event_record(
            organization=organization,
            connection=connection,
            outcome=SignInEvent.Outcome.FAILURE,
            step=step,
            detail=detail,
            subject=subject,
            email=email,
            is_test=is_test,
            ip=client_ip(request),
            reference=reference,
        )
    # Ids and the step only: the detail can name people.
    logger.warning(
        "SSO sign-in failed: org=%s connection=%s step=%s reference=%s",
        organization.pk if organization else None,
        connection.pk if connection else None,
        step,
        reference,
    )
    return _error_page(
        request,
        message=message,
        reference=reference,
        organization=organization,
        status=status,
    )


def _endpoint_and_query(endpoint: str) -> tuple[str, dict[str, str]]:
    """The authorization endpoint without its query, and that query's own
    parameters (the library appends "?" and the request's parameters to the
    endpoint it is given)."""
    parts = urlsplit(endpoint)
    params = {
        name: value
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name not in _AUTHORIZATION_PARAMS
    }
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), params


def _state_of(authorization_url: str) -> str:
    values = parse_qs(urlsplit(authorization_url).query).get("state") or [""]
    return values[0]


def _session_save_now(request: HttpRequest) -> None:
    """Save the session now that the callback took its state, and read it
    again only when it is next used, as mozilla-django-oidc's callback does.

    The state is gone for good even if what follows ends in a server error
    (Django then saves no session), and sign-ins started in other tabs during
    the slow token request survive (the session is read again after it, not
    written back from before it).
    """
    request.session.save()
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.session.session_key)
    # Written back at the end of the request whatever happens, so that a
    # session held in the cookie itself (signed cookies) loses the state too.
    request.session.modified = True


def _test_signin_finish(
    request: HttpRequest,
    *,
    connection: Connection,
    config: ConnectionConfig,
    passed: bool,
    steps: list[dict[str, str]],
    result: dict[str, Any],
    started_at: float | None,
    delegate: DraftDelegate | None = None,
) -> HttpResponse:
    """Record a test sign-in's check and show it (the check page, or the
    delegate's own page for it)."""
    actor: User | DraftDelegate
    if delegate is not None:
        actor = delegate
    else:
        assert request.user.is_authenticated  # callers let only the owner in
        actor = request.user
    try:
        check = signin_test_record(
            connection=connection,
            config=config,
            actor=actor,
            passed=passed,
            steps=steps,
            result=result,
            started_at=started_at,
            ip=client_ip(request),
        )
    except ServiceError as exc:  # no longer allowed to manage the connection
        return _fail(
            request,
            organization=connection.organization,
            connection=connection,
            step="test_actor",
            detail=str(exc),
            message=str(exc),
            status=403,
            is_test=True,
        )
    if delegate is not None:
        return redirect(delegate.check_url(check.pk))
    return redirect(check.get_absolute_url())


def _test_signin_failed(
    request: HttpRequest,
    *,
    connection: Connection,
    config: ConnectionConfig,
    step: str,
    detail: str,
    started_at: float | None = None,
    delegate: DraftDelegate | None = None,
) -> HttpResponse:
    return _test_signin_finish(
        request,
        delegate=delegate,
        connection=connection,
        config=config,
        passed=False,
        steps=signin_test_steps(step, detail),
        result={
            "claims": [],
            "groups": [],
            "would_be_role": None,
            "allowed": False,
            "step": step,
            "reason": detail,
        },
        started_at=started_at,
    )


# ----------------------------------------------------------------------- views


@method_decorator(never_cache, name="dispatch")
class SsoLoginView(OIDCAuthenticationRequestView):
    """``/sso/login/<login_path>/``: start a sign-in at the organization's IdP.

    Takes ``?login_hint=`` (passed to the IdP) and ``?next=`` (a local path).
    The library's ``get`` makes the state, nonce and PKCE verifier, stores
    them and redirects; ``sign_in_start`` gives it this request's connection
    and binds what it stored.
    """

    http_method_names = ["get"]
    # Per request (a view instance serves one), set by sign_in_start.
    sso_scope = "openid"
    sso_extra_params: Mapping[str, str] = MappingProxyType({})

    def get_settings(self, attr: str, *args: Any) -> Any:
        """The library's settings: fixed ones, this request's connection's,
        then Django's."""
        if attr in LIBRARY_FIXED_SETTINGS:
            return LIBRARY_FIXED_SETTINGS[attr]
        if attr == "OIDC_RP_SCOPES":
            return self.sso_scope
        if attr in ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_RP_CLIENT_ID"):
            # Per connection: the parent's __init__ copies these into
            # attributes before any connection is known; sign_in_start sets
            # those attributes.
            return None
        return super().get_settings(attr, *args)

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        return dict(self.sso_extra_params)

    def get(self, request: HttpRequest, login_path: str) -> HttpResponse:
        organization, connection = _live_target(login_path)
        if organization is None:
            return _error_page(
                request,
                message=_(
                    "There is no organization at this sign-in address. Check the "
                    "link, or sign in with your email address."
                ),
                reference=new_reference(),
                status=404,
                title=_("Unknown organization"),
            )
        return self.sign_in_start_live(
            organization,
            connection,
            next_url=local_next(request.GET.get("next")),
            login_hint=_login_hint(request.GET.get("login_hint")),
        )

    def sign_in_start(
        self,
        *,
        organization: Organization,
        connection: Connection,
        config: ConnectionConfig,
        next_url: str = "",
        login_hint: str = "",
        actor: User | None = None,
        delegate: DraftDelegate | None = None,
    ) -> HttpResponse:
        """Start a sign-in at ``config``: the library's fresh state, nonce and
        PKCE S256, bound to the organization, then off to the IdP.

        Raises OIDCError when the IdP's discovery document cannot be had.
        """
        request = self.request
        backend = OrganizationOIDCBackend(config)
        metadata = backend.provider_metadata()
        endpoint, endpoint_params = _endpoint_and_query(metadata.authorization_endpoint)
        self.OIDC_OP_AUTH_ENDPOINT = endpoint
        self.OIDC_RP_CLIENT_ID = config.client_id
        self.sso_scope = " ".join(backend.scopes())
        redirect_uri = _redirect_uri()
        # The redirect URI is the one built from SITE_URL that IdP admins
        # register, not the parent's, built from this request's Host header.
        self.sso_extra_params = {
            **endpoint_params,
            "redirect_uri": redirect_uri,
            **({"login_hint": login_hint} if login_hint else {}),
        }
        response = super().get(request)
        request.session.pop(_LIBRARY_NEXT_SESSION_KEY, None)
        flow_bind(
            request.session,
            cache,
            _state_of(response["Location"]),
            organization_id=organization.pk,
            connection_id=connection.pk,
            config_id=config.pk,
            issuer=config.issuer_url,
            redirect_uri=redirect_uri,
            next_url=next_url,
            is_test=actor is not None or delegate is not None,
            actor_id=actor.pk if actor is not None else None,
            delegate=delegate.key if delegate is not None else "",
            ttl=_ttl(),
        )
        return response

    def sign_in_start_live(
        self,
        organization: Organization,
        connection: Connection | None,
        *,
        next_url: str,
        login_hint: str,
        expected_issuer: str | None = None,
    ) -> HttpResponse:
        """Start a sign-in at ``connection``, the organization's live one (None:
        it has none, which the person is told)."""
        request = self.request
        if connection is None or connection.live is None:
            return _fail(
                request,
                organization=organization,
                connection=None,
                step="no_connection",
                detail=_(
                    "Someone tried to sign in, but the organization has no live "
                    "connection."
                ),
                message=_(
                    "%(organization)s has not switched on single sign-on yet. Sign "
                    "in with your email and password instead."
                )
                % {"organization": organization.name},
                status=404,
                before_idp=True,
            )
        config = connection.live
        if expected_issuer is not None and expected_issuer != config.issuer_url:
            return _fail(
                request,
                organization=organization,
                connection=connection,
                step="initiate_iss",
                detail=_(
                    "An IdP-initiated sign-in named an issuer that is not the "
                    "connection's, so it was not started. Check the app's "
                    "'Initiate login URI' at the provider."
                ),
                message=_(
                    "This sign-in link does not come from %(organization)s's "
                    "identity provider. Start from your organization's sign-in page."
                )
                % {"organization": organization.name},
                before_idp=True,
            )
        try:
            return self.sign_in_start(
                organization=organization,
                connection=connection,
                config=config,
                next_url=next_url,
                login_hint=login_hint,
            )
        except OIDCError as exc:
            return _fail(
                request,
                organization=organization,
                connection=connection,
                step=exc.step,
                detail=exc.message,
                message=_protocol_message(organization),
                before_idp=True,
            )


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class SsoInitiateView(SsoLoginView):
    """``/sso/initiate/<login_path>/``: OpenID Connect third-party initiated login.

    The IdP names itself (``iss``), may pass ``login_hint`` and
    ``target_link_uri``; a normal sign-in with fresh state follows. Nothing
    here is trusted beyond that: no token is ever accepted unsolicited.
    It takes POST too (the spec allows it), without CSRF protection because it
    only starts a sign-in bound to this browser's session.
    """

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, login_path: str) -> HttpResponse:
        params = request.POST if request.method == "POST" else request.GET
        organization, connection = _live_target(login_path)
        if organization is None:
            return _error_page(
                request,
                message=_("There is no organization at this sign-in address."),
                reference=new_reference(),
                status=404,
                title=_("Unknown organization"),
            )
        issuer = params.get("iss")
        if not issuer:
            return _fail(
                request,
                organization=organization,
                connection=None,
                step="initiate_iss",
                detail=_(
                    "An IdP-initiated sign-in came without the required 'iss' "
                    "parameter."
                ),
                message=_(
                    "This sign-in link is incomplete. Start from your "
                    "organization's sign-in page."
                ),
                before_idp=True,
            )
        return self.sign_in_start_live(
            organization,
            connection,
            next_url=_target_link(params.get("target_link_uri")),
            login_hint=_login_hint(params.get("login_hint")),
            expected_issuer=issuer,
        )

    def post(self, request: HttpRequest, login_path: str) -> HttpResponse:
        return self.get(request, login_path)


def _target_link(value: str | None) -> str:
    """A ``target_link_uri`` on this site, as a local path; anything else is dropped."""
    if not value:
        return ""
    site = settings.SITE_URL
    if value.startswith(site + "/"):
        parts = urlsplit(value)
        value = parts.path + (f"?{parts.query}" if parts.query else "")
    return local_next(value)


@method_decorator(never_cache, name="dispatch")
class SsoCallbackView(OIDCAuthenticationCallbackView):
    """``/sso/callback/``: the one redirect URI of every connection."""

    http_method_names = ["get"]
    # A test sign-in's setup-link IT admin, when it was theirs.
    delegate: DraftDelegate | None = None

    def get(self, request: HttpRequest) -> HttpResponse:
        # Not the parent's get, which would authenticate() through every
        # backend (django-axes included) with the nonce and verifier as
        # credentials, sign out whoever is signed in on an IdP error, answer
        # an unknown state with a bare SuspiciousOperation, and has no TTL,
        # no RFC 9207 check and no organization; docs/ARCHITECTURE.md.
        self.idp_error_code = ""
        try:
            flow = flow_consume(
                request.session, cache, request.GET.get("state"), ttl=_ttl()
            )
        except FlowError as exc:
            return self._flow_failure(exc)
        invitation_id = request.session.get(PENDING_INVITATION_SESSION_KEY)
        _session_save_now(request)
        try:
            organization, connection, config = flow_targets(flow)
        except SignInRefused as exc:
            known = Organization.objects.filter(pk=flow.organization_id).first()
            return _fail(
                request,
                organization=known,
                connection=Connection.objects.filter(
                    pk=flow.connection_id, organization=known
                ).first(),
                step=exc.step,
                detail=exc.detail,
                message=str(exc),
                is_test=flow.is_test,
            )
        self.flow, self.organization = flow, organization
        self.connection, self.config = connection, config
        if flow.is_test:
            return self._test_signin()
        backend = OrganizationOIDCBackend(config)
        try:
            code = self._authorization_code(backend)
            self.user = backend.authenticate(
                request,
                sso_flow=flow,
                code=code,
                invitation_id=invitation_id if isinstance(invitation_id, int) else None,
            )
        except OIDCError as exc:
            # A protocol failure keeps a pending invitation for the next try.
            return self._protocol_failure(exc)
        except SignInRefused as exc:
            request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
            return _fail(
                request,
                organization=organization,
                connection=connection,
                step=exc.step,
                detail=exc.detail,
                message=str(exc),
                status=403,
                subject=exc.subject,
                email=exc.email,
            )
        request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
        assert backend.verified is not None  # authenticate() set it, or raised
        self.verified = backend.verified
        return self.login_success()

    def _authorization_code(self, backend: OrganizationOIDCBackend) -> str:
        """Check the authorization response itself; return its code."""
        params = self.request.GET
        metadata = backend.provider_metadata()
        # RFC 9207: the issuer is checked before anything else in the response
        # is used, so a response from another IdP (mix-up) is never processed.
        validate_authorization_response_iss(
            params.get("iss"),
            self.config.issuer_url,
            metadata.authorization_response_iss_parameter_supported,
        )
        error = params.get("error")
        if error is not None:
            code = self.idp_error_code = _printable(error, 64)
            description = _printable(
                params.get("error_description", ""), _MAX_ERROR_DESCRIPTION_CHARS
            )
            if description:
                detail = _(
                    "The identity provider answered with error '%(code)s' and this "
                    "description (error responses are not signed, so it may not "
                    "come from the provider): %(description)s"
                ) % {"code": code, "description": description}
            else:
                detail = _("The identity provider answered with error '%(code)s'.") % {
                    "code": code
                }
            raise OIDCError("idp_error", detail, _idp_error_fix(code))
        code = params.get("code")
        if not code or len(code) > 4096:
            raise OIDCError(
                "code_missing",
                _("The identity provider's response has no authorization code."),
                _(
                    "Check that the app at the provider uses the authorization "
                    "code flow."
                ),
            )
        return code

    def _flow_failure(self, exc: FlowError) -> HttpResponse:
        target = exc.target
        organization = connection = None
        if target is not None:
            organization = Organization.objects.filter(
                pk=target.organization_id
            ).first()
            connection = Connection.objects.filter(
                pk=target.connection_id, organization=organization
            ).first()
        return _fail(
            self.request,
            organization=organization,
            connection=connection,
            step=exc.step,
            detail=exc.detail,
            message=str(FLOW_MESSAGES.get(exc.step, FLOW_MESSAGES["state_unknown"])),
            is_test=bool(target and target.is_test),
            # Anyone holding a state (issued to them, or replayed) can send these.
            anyone_can_send=True,
        )

    def _protocol_failure(self, exc: OIDCError) -> HttpResponse:
        if exc.step == "idp_error" and self.idp_error_code == "access_denied":
            message = _access_denied_message(self.organization)
            status = 403
        elif exc.step == "idp_paused":
            message = _idp_paused_message(self.organization)
            status = 503
        else:
            message = _protocol_message(self.organization)
            status = 400
        return _fail(
            self.request,
            organization=self.organization,
            connection=self.connection,
            step=exc.step,
            detail=exc.message,
            message=message,
            status=status,
            # An error response is not signed: its text is the sender's.
            anyone_can_send=exc.step == "idp_error",
        )

    def _test_signin(self) -> HttpResponse:
        """Complete a test sign-in: validate, preview, record; no login."""
        request, flow = self.request, self.flow
        self.delegate = None
        if flow.delegate:
            # A setup link's IT admin: the link is checked again now, so a
            # revocation while they were at the IdP takes effect.
            self.delegate = delegate_for_request(request, flow.delegate)
            allowed = (
                self.delegate is not None
                and self.delegate.organization.pk == flow.organization_id
            )
        else:
            allowed = request.user.is_authenticated and request.user.pk == flow.actor_id
        if not allowed:
            return _fail(
                request,
                organization=self.organization,
                connection=self.connection,
                step="test_actor",
                detail=_(
                    "A test sign-in came back to a browser session that is not the "
                    "one of the owner or setup link that started it, or the setup "
                    "link is no longer valid; it was not used."
                ),
                message=_(
                    "This test sign-in belongs to another session, or the setup "
                    "link it was started from was revoked or has expired. Start "
                    "the test again from the console or a valid setup link."
                ),
                status=403,
                is_test=True,
            )
        backend = OrganizationOIDCBackend(self.config)
        try:
            code = self._authorization_code(backend)
            verified = backend.verified_sign_in(flow, code)
        except OIDCError as exc:
            return _test_signin_failed(
                request,
                connection=self.connection,
                config=self.config,
                step=exc.step,
                detail=exc.message,
                started_at=flow.created_at,
                delegate=self.delegate,
            )
        return self._test_signin_done(verified)

    def _test_signin_done(self, verified: VerifiedSignIn) -> HttpResponse:
        result = signin_test_preview(
            organization=self.organization,
            connection=self.connection,
            config=self.config,
            claims=verified.claims,
        )
        result["used_userinfo"] = verified.used_userinfo
        if verified.group_names:
            # Entra group object IDs with the names Graph gave, for the owner
            # to recognise them when mapping groups to roles.
            result["group_labels"] = [
                {"id": group, "name": verified.group_names.get(group, "")}
                for group in result["groups"]
            ]
        passed = bool(result["allowed"])
        steps = signin_test_steps(
            None if passed else result["step"] or "role",
            result["reason"],
            passed_detail=_("Would sign in as %(role)s: %(reason)s")
            % {"role": result["would_be_role"], "reason": result["reason"]},
        )
        return _test_signin_finish(
            self.request,
            connection=self.connection,
            config=self.config,
            passed=passed,
            steps=steps,
            result=result,
            started_at=self.flow.created_at,
            delegate=self.delegate,
        )

    def login_success(self) -> HttpResponse:
        request = self.request
        was_signed_in = request.user.is_authenticated and request.user == self.user
        login(request, self.user, backend=BACKEND_PATH)
        if was_signed_in:
            # login() keeps the key for a user already signed in here; a new
            # privilege (this organization's SSO) still gets a new key.
            request.session.cycle_key()
        org_ids = [
            pk for pk in request.session.get(SSO_SESSION_KEY, []) if isinstance(pk, int)
        ]
        if self.organization.pk not in org_ids:
            org_ids.append(self.organization.pk)
        request.session[SSO_SESSION_KEY] = org_ids
        sid = self.verified.claims.get("sid")
        session_index(
            request,
            request.user.pk,
            org_ids,
            idp_sid_by_org={self.organization.pk: sid} if isinstance(sid, str) else {},
        )
        if self.config.idp_logout and settings.SESSION_ENGINE != _COOKIE_SESSION_ENGINE:
            request.session[IDP_LOGOUT_SESSION_KEY] = {
                "connection_id": self.connection.pk,
                "config_id": self.config.pk,
                "id_token": self.verified.id_token,
            }
        return HttpResponseRedirect(self.flow.next_url or reverse("home"))


def _idp_error_fix(code: str) -> str:
    if code == "access_denied":
        return _(
            "The person cancelled, or is not assigned to the app at the provider: "
            "assign them (or their group) to the app."
        )
    if code in ("invalid_client", "unauthorized_client"):
        return _(
            "Check the client ID and that the app allows the authorization code flow."
        )
    if code == "invalid_scope":
        return _("Remove the scopes the provider does not offer from the connection.")
    return _("Check the app's settings at the provider.")


class SsoLogoutView(OIDCLogoutView):
    """``POST /sso/logout/``: end the session, and the IdP's when configured."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        idp_url = None
        stored = request.session.get(IDP_LOGOUT_SESSION_KEY)
        if request.user.is_authenticated and isinstance(stored, dict):
            idp_url = self._idp_logout_url(stored)
        logout(request)
        if idp_url is None:
            messages.info(request, _("You are signed out."))
            return redirect(settings.LOGOUT_REDIRECT_URL)
        state, url = idp_url
        request.session[LOGOUT_STATE_SESSION_KEY] = state
        return HttpResponseRedirect(url)

    def _idp_logout_url(self, stored: dict[str, Any]) -> tuple[str, str] | None:
        config = (
            # A missing id (None) matches no row; django-stubs wants an id.
            ConnectionConfig.objects.filter(  # type: ignore[misc]
                pk=stored.get("config_id"), connection_id=stored.get("connection_id")
            )
            .select_related("connection")
            .first()
        )
        id_token = stored.get("id_token")
        if config is None or not config.idp_logout or not isinstance(id_token, str):
            return None
        state = secrets.token_urlsafe(24)
        try:
            url = OrganizationOIDCBackend(config).end_session_url(
                id_token=id_token,
                post_logout_redirect_uri=settings.SITE_URL + reverse("sso_logged_out"),
                state=state,
            )
        except OIDCError as exc:
            # Signing out here must work even when the IdP is unreachable.
            logger.warning(
                "IdP sign-out skipped: connection=%s step=%s",
                config.connection_id,
                exc.step,
            )
            return None
        return (state, url) if url else None


@never_cache
@require_http_methods(["GET"])
def sso_logged_out(request: HttpRequest) -> HttpResponse:
    """Where the IdP sends people back after signing them out there too."""
    expected = request.session.pop(LOGOUT_STATE_SESSION_KEY, None)
    returned = request.GET.get("state")
    from_idp = bool(
        expected and returned and secrets.compare_digest(expected, returned)
    )
    return render(request, "connections/sso/logged_out.html", {"from_idp": from_idp})


class EmailLoginForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Work email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


@never_cache
@require_http_methods(["GET", "POST"])
def email_login(request: HttpRequest) -> HttpResponse:
    """``/login/``: ask for the email, then route to its organization's SSO.

    An email in a domain verified by an organization with live single sign-on
    goes there (with ``login_hint``); anyone else to password sign-in.
    """
    next_url = local_next(request.POST.get("next") or request.GET.get("next"))
    if request.method == "POST":
        form = EmailLoginForm(request.POST)
        if form.is_valid():
            return redirect(_route_email(form.cleaned_data["email"], next_url))
    else:
        form = EmailLoginForm(initial={"email": _login_hint(request.GET.get("email"))})
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "connections/sso/email_login.html",
        {"form": form, "next": next_url},
        status=status,
    )


def _route_email(email: str, next_url: str) -> str:
    email = email.strip().lower()
    domain = email_domain(email)
    organization = verified_domain_org(domain) if domain else None
    connection = live_connection_for_org(organization) if organization else None
    if organization is not None and connection is not None:
        query = {"login_hint": email, **({"next": next_url} if next_url else {})}
        return (
            f"{reverse('sso_login', args=[organization.login_path])}?{urlencode(query)}"
        )
    query = {"email": email, **({"next": next_url} if next_url else {})}
    return f"{reverse('login')}?{urlencode(query)}"


@require_POST
@org_view("connections.manage")
def connection_test_signin(
    request: SignedInRequest, org: OrgContext, connection_id: int
) -> HttpResponse:
    """Start an owner's test sign-in against the connection's draft."""
    connection = get_object_or_404(
        Connection.objects.select_related("draft", "organization"),
        pk=connection_id,
        organization=org.organization,
    )
    return signin_test_start(request, connection=connection, actor=request.user)


def signin_test_start(
    request: HttpRequest,
    *,
    connection: Connection,
    actor: User | None = None,
    delegate: DraftDelegate | None = None,
) -> HttpResponse:
    """Send the browser to the IdP for a test sign-in of ``connection``'s
    draft, started by the owner (``actor``) or a setup link's IT admin
    (``delegate``); the callback records the result as a check."""
    if connection.draft is None:
        return _error_page(
            request,
            message=_("This connection has no configuration to test yet."),
            reference="",
            title=_("Nothing to test"),
        )
    starter = SsoLoginView()
    starter.setup(request)
    try:
        return starter.sign_in_start(
            organization=connection.organization,
            connection=connection,
            config=connection.draft,
            actor=actor,
            delegate=delegate,
        )
    except OIDCError as exc:
        return _test_signin_failed(
            request,
            connection=connection,
            config=connection.draft,
            step=exc.step,
            detail=exc.message,
            delegate=delegate,
        )


urlpatterns = [
    path("sso/login/<str:login_path>/", SsoLoginView.as_view(), name="sso_login"),
    path(
        "sso/initiate/<str:login_path>/",
        SsoInitiateView.as_view(),
        name="sso_initiate",
    ),
    path("sso/callback/", SsoCallbackView.as_view(), name="sso_callback"),
    path("sso/logout/", SsoLogoutView.as_view(), name="sso_logout"),
    path("sso/logged-out/", sso_logged_out, name="sso_logged_out"),
    path("login/", email_login, name="email_login"),
    path(
        "orgs/<str:org>/connections/<int:connection_id>/test-signin/",
        connection_test_signin,
        name="connection_test_signin",
    ),
]
