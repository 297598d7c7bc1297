"""mozilla-django-oidc's authentication backend, one provider per organization.

The stock backend reads a single provider from settings, talks to it with
bare ``requests`` calls, checks little of the ID token and finds people by
email. This subclass keeps its shape and overrides the hooks that must differ
(``get_token``, ``verify_token``, ``get_userinfo``, ``get_or_create_user``,
``authenticate``, and ``__init__``/``get_user``); docs/ARCHITECTURE.md lists
why each one is ours:

* every value comes from one ``ConnectionConfig``: the organization's live
  configuration, or the draft for an owner's test sign-in;
* every request goes through ``connections.outbound.fetch`` (address policy,
  timeouts, size cap), and discovery and the JWKS are cached per connection
  in Django's cache, so a warm sign-in makes one request: the token exchange;
* the code is exchanged with the client authentication the IdP advertises,
  and the ID token is validated completely by ``connections.oidc.tokens``
  (algorithms the IdP advertises, public-key only; exact ``iss``; ``aud`` and
  ``azp``; ``exp``/``iat``/``nbf`` with the connection's leeway; ``sub``;
  ``nonce``);
* UserInfo is asked only for a needed claim the ID token lacks, and must
  describe the same ``sub``;
* people are found by their SSO identity (connection, issuer, ``sub``) and
  provisioned by ``connections.services.sso``, never looked up by email. The
  library's email-based helpers (``filter_users_by_claims``, ``create_user``)
  and its key and JWS helpers (``retrieve_matching_jwk``,
  ``get_payload_data``) are called only by the library's own
  ``get_or_create_user`` and ``verify_token``, which are replaced here, so
  they never run.

The authorization request (``state``, ``nonce``, PKCE) is the library's
request view's; see ``connections.views.sso``. Failures raise ``OIDCError``
(protocol) or ``SignInRefused`` (policy); the views turn them into a sign-in
event and a friendly page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache as django_cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.models import User
from connections import outbound
from connections.graph import graph_groups
from connections.models import ConnectionConfig
from connections.oidc.client_auth import (
    PRIVATE_KEY_JWT,
    client_auth,
    token_auth_method,
)
from connections.oidc.discovery import ProviderMetadata, cache_key, fetch_metadata
from connections.oidc.errors import OIDCError
from connections.oidc.flow import LoginFlow
from connections.oidc.jwks import JWKSCache
from connections.oidc.logout import LogoutToken, logout_token_validate
from connections.oidc.providers import (
    ProviderProfile,
    claims_with_groups,
    needs_groups_overage_lookup,
    profile_for,
)
from connections.oidc.tokens import accepted_algs, check_userinfo_sub, validate_id_token
from connections.services.signing_keys import assertion_key_for
from connections.services.sso import signin_complete
from organizations.access import client_ip

BACKEND_PATH = "connections.backend.OrganizationOIDCBackend"


def _fix_reach() -> str:
    return _(
        "Check that the identity provider is up and reachable from this server, "
        "then try again."
    )


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# Outbound refusals that mean the IdP is not answering now (outbound_guard).
IDP_PAUSED_KINDS = frozenset({"circuit_open", "busy"})
# A discovery document that failed is not fetched again for this long.
DISCOVERY_FAILURE_PAUSE = 30
# A discovery document is fetched anew for a key set that moved at most this
# often per connection (seconds).
DISCOVERY_REFRESH_INTERVAL = 60


def _jwks_clock() -> float:
    """The clock of the JWKS reload limit (a seam for tests of key rotation)."""
    return time.time()


class ConnectionCache:
    """Django's cache seen through a per-connection key prefix.

    Discovery and key sets are cached per connection, so one organization's
    entries never stand in for another's, whatever URLs they share.
    """

    def __init__(self, connection_id: int) -> None:
        self.prefix = f"sso:conn:{connection_id}:"

    def get(self, key: str, default: Any = None) -> Any:
        return django_cache.get(self.prefix + key, default)

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        django_cache.set(self.prefix + key, value, timeout)

    def add(self, key: str, value: Any, timeout: Any = None) -> bool:
        return django_cache.add(self.prefix + key, value, timeout)

    def delete(self, key: str) -> None:
        django_cache.delete(self.prefix + key)


def provider_cache_forget(connection_id: int, issuer: str) -> None:
    """Drop a connection's cached discovery document for ``issuer`` (and a
    recent failure to fetch one): the next sign-in reads the IdP's current one
    (after a passing check, say)."""
    cache = ConnectionCache(connection_id)
    cache.delete(cache_key("discovery", issuer))
    cache.delete("discovery-failed")


@dataclass(frozen=True)
class VerifiedSignIn:
    """What a successful code exchange proved.

    ``claims`` are the ID token's, completed from UserInfo when needed.
    ``id_token`` is kept only to end the IdP session at sign-out; it is never
    logged, rendered or stored anywhere but the server-side session.
    """

    claims: dict[str, Any]
    id_token: str
    used_userinfo: bool
    # Entra group object IDs -> display names, when Graph named them.
    group_names: dict[str, str] | None = None


class OrganizationOIDCBackend(OIDCAuthenticationBackend):
    """Sign-in through one organization's OpenID Connect connection."""

    def __init__(
        self, config: ConnectionConfig | None = None, *args: Any, **kwargs: Any
    ) -> None:
        # The parent's __init__ reads one provider from settings; there is
        # none. Django also builds this backend without arguments, to load
        # the user of a session (get_user).
        self.UserModel = get_user_model()
        self.config = config
        self.request = None
        self.invitation_id: int | None = None
        self.verified: VerifiedSignIn | None = None
        self._metadata: ProviderMetadata | None = None

    # ------------------------------------------------------------ configuration

    def _config(self) -> ConnectionConfig:
        if self.config is None:
            raise ValueError("This backend needs a connection configuration.")
        return self.config

    @property
    def cache(self) -> ConnectionCache:
        return ConnectionCache(self._config().connection_id)

    def provider_metadata(self, *, refresh: bool = False) -> ProviderMetadata:
        """The IdP's discovery document, from the cache when it is there
        (``refresh``: fetched anew, and cached for the next sign-ins)."""
        if self._metadata is None or refresh:

            def refuse_if_failed_recently() -> None:
                # A document that failed moments ago is not asked for again on
                # every anonymous sign-in start: the same refusal, for a while.
                # Read only when the document is not cached (no cost when it is).
                failed = self.cache.get("discovery-failed")
                if isinstance(failed, dict) and not refresh:
                    raise OIDCError(failed["step"], failed["detail"], failed["fix"])

            try:
                self._metadata = fetch_metadata(
                    outbound.fetch,
                    self._config().issuer_url,
                    cache=self.cache,
                    ttl=int(_setting("SSO_DISCOVERY_TTL", 3600)),
                    allow_insecure=bool(_setting("SSO_ALLOW_INSECURE_ISSUERS", False)),
                    refresh=refresh,
                    before_fetch=refuse_if_failed_recently,
                )
            except OIDCError as exc:
                self.cache.add(
                    "discovery-failed",
                    {"step": exc.step, "detail": exc.detail, "fix": exc.fix},
                    DISCOVERY_FAILURE_PAUSE,
                )
                raise
        return self._metadata

    def _moved_key_set(self, metadata: ProviderMetadata) -> ProviderMetadata | None:
        """The discovery document fetched anew when the key set it named could
        not be loaded or lacks the token's key: the provider may have moved its
        JWKS. None when it did not move, or when this connection's discovery
        was refreshed for that reason moments ago (once a minute at most)."""
        if not self.cache.add("discovery-refresh", 1, DISCOVERY_REFRESH_INTERVAL):
            return None
        fresh = self.provider_metadata(refresh=True)
        return fresh if fresh.jwks_uri != metadata.jwks_uri else None

    def jwks(self) -> JWKSCache:
        return JWKSCache(
            self.cache,
            ttl=int(_setting("SSO_JWKS_TTL", 3600)),
            refetch_interval=int(_setting("SSO_JWKS_REFETCH_INTERVAL", 30)),
            clock=_jwks_clock,
        )

    def scopes(self) -> list[str]:
        scopes = self._config().scope_list
        return scopes if "openid" in scopes else ["openid", *scopes]

    def profile(self) -> ProviderProfile:
        return profile_for(self._config().rules_provider)

    def missing_claims(self, payload: dict[str, Any]) -> list[str]:
        """Claims a sign-in decision reads that the ID token lacks; UserInfo is
        asked only when there is one. Which ones depends on the provider:
        Entra sends no email_verified and its groups never come from UserInfo
        (an overage is resolved through Graph), Google sends no groups."""
        config = self._config()
        profile = self.profile()
        missing = []
        email_claims = (config.email_claim, *profile.fallback_email_claims)
        if not any(name in payload for name in email_claims):
            missing.append(config.email_claim)
        if profile.requires_email_verified and "email_verified" not in payload:
            missing.append("email_verified")
        if (
            profile.groups_from_userinfo
            and "groups" in config.scope_list
            and config.groups_claim not in payload
        ):
            missing.append(config.groups_claim)
        return missing

    # ------------------------------------------------------------ sign-out

    def end_session_url(
        self, *, id_token: str, post_logout_redirect_uri: str, state: str
    ) -> str | None:
        """The IdP's RP-initiated logout URL, or None when it has none."""
        endpoint = self.provider_metadata().end_session_endpoint
        if not endpoint:
            return None
        params = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "state": state,
            "client_id": self._config().client_id,
        }
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}"

    # ------------------------------------------------------------ code exchange

    def token_auth_method(self, metadata: ProviderMetadata) -> str:
        """The client authentication to use at the token endpoint."""
        config = self._config()
        advertised = metadata.token_endpoint_auth_methods_supported
        method = token_auth_method(
            advertised,
            config.token_auth_method,
            has_secret=bool(config.client_secret_encrypted),
        )
        if method is not None:
            return method
        raise OIDCError(
            "token_auth",
            _(
                "The identity provider does not accept the client authentication "
                "this connection uses (%(configured)s) at its token endpoint (it "
                "advertises %(methods)s)."
            )
            % {
                # Translators: the method left to the IdP's discovery document.
                "configured": config.token_auth_method or _("a client secret"),
                # Translators: shown in place of a list of methods when there is none.
                "methods": ", ".join(advertised[:5]) or _("none"),
            },
            _(
                "Configure the app at the provider to authenticate with the same "
                "method as the connection (client_secret_basic, "
                "client_secret_post or private_key_jwt)."
            ),
        )

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Exchange the code at the token endpoint through the outbound client.

        With ``private_key_jwt`` a fresh client assertion is signed for this
        request alone; no secret is sent.
        """
        config = self._config()
        metadata = self.provider_metadata()
        method = self.token_auth_method(metadata)
        key = None
        if method == PRIVATE_KEY_JWT:
            key = assertion_key_for(config.connection_id)
            if key is None:
                raise OIDCError(
                    "token_auth",
                    _("The connection has no signing key for private_key_jwt."),
                    _(
                        "Open the connection's page and add a signing key, then "
                        "give the IdP the new key set."
                    ),
                )
        credentials = client_auth(
            method,
            config.client_id,
            config.client_secret,
            token_endpoint=metadata.token_endpoint,
            key=key,
        )
        data = {key: str(value) for key, value in payload.items()}
        try:
            response = outbound.fetch(
                metadata.token_endpoint,
                method="POST",
                data=data | credentials.data,
                headers={"Accept": "application/json"},
                auth=credentials.basic,
            )
            body = response.json()
        except outbound.OutboundError as exc:
            raise OIDCError(
                # The IdP is known not to answer: refused here, never sent.
                "idp_paused" if exc.kind in IDP_PAUSED_KINDS else "token",
                _("The code exchange at the token endpoint failed: %(error)s")
                % {"error": exc},
                _token_fix(exc),
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            raise OIDCError(
                "token",
                _("The token endpoint's answer has no ID token."),
                _(
                    "Check that the app at the provider is an OpenID Connect app "
                    "and that the 'openid' scope is granted."
                ),
            )
        return body

    # ------------------------------------------------------------ validation

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """Validate the ID token completely; return its claims or raise OIDCError."""
        config = self._config()
        metadata = self.provider_metadata()

        def validate(metadata: ProviderMetadata) -> dict[str, Any]:
            return validate_id_token(
                token,
                issuer=config.issuer_url,
                client_id=config.client_id,
                key_resolver=self.jwks().resolver(outbound.fetch, metadata.jwks_uri),
                allowed_algs=accepted_algs(
                    metadata.id_token_signing_alg_values_supported
                ),
                nonce=kwargs["nonce"],
                leeway=config.leeway_seconds,
            )

        try:
            try:
                claims = validate(metadata)
            except OIDCError as exc:
                moved = (
                    self._moved_key_set(metadata)
                    if exc.step in ("jwks", "kid")
                    else None
                )
                if moved is None:
                    raise
                claims = validate(moved)
        except UnicodeError:
            # A claim holding a lone surrogate ("\ud800" in the JSON) breaks
            # the nonce comparison; it is a malformed token, not a crash.
            raise _unusable_text(_("The ID token")) from None
        require_clean_text(claims, _("The ID token"))
        return claims

    def verify_logout_token(self, token: str) -> LogoutToken:
        """Validate a back-channel logout token with this connection's keys,
        issuer and client ID (``oidc.logout``); raise OIDCError otherwise.

        The keys come from the same per-connection cache as the ID tokens',
        reloaded once for an unknown ``kid`` and followed when the provider
        moved its key set.
        """
        config = self._config()
        metadata = self.provider_metadata()

        def validate(metadata: ProviderMetadata) -> LogoutToken:
            return logout_token_validate(
                token,
                issuer=config.issuer_url,
                client_id=config.client_id,
                key_resolver=self.jwks().resolver(outbound.fetch, metadata.jwks_uri),
                allowed_algs=accepted_algs(
                    metadata.id_token_signing_alg_values_supported
                ),
                leeway=config.leeway_seconds,
            )

        try:
            return validate(metadata)
        except OIDCError as exc:
            moved = (
                self._moved_key_set(metadata) if exc.step in ("jwks", "kid") else None
            )
            if moved is None:
                raise
            return validate(moved)

    def get_userinfo(
        self, access_token: str | None, id_token: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """The claims, completed from UserInfo only when a needed one is missing."""
        missing = self.missing_claims(payload)
        endpoint = self.provider_metadata().userinfo_endpoint
        if not missing or not endpoint or not access_token:
            return dict(payload)
        try:
            response = outbound.fetch(
                endpoint,
                headers={
                    "Authorization": f"Bearer {access_token}",
                    "Accept": "application/json",
                },
            )
            if "jwt" in response.headers.get("Content-Type", "").lower():
                raise OIDCError(
                    "userinfo",
                    _(
                        "The UserInfo endpoint answered with a signed JWT, which "
                        "this console does not read."
                    ),
                    _(
                        "Configure the provider to answer UserInfo with JSON, or "
                        "to put the needed claims in the ID token."
                    ),
                )
            userinfo = response.json()
        except outbound.OutboundError as exc:
            raise OIDCError(
                "userinfo",
                _(
                    "Reading the user's claims from the UserInfo endpoint failed: "
                    "%(error)s"
                )
                % {"error": exc},
                _fix_reach(),
            ) from None
        check_userinfo_sub(payload, userinfo)
        require_clean_text(userinfo, _("The UserInfo response"))
        claims = dict(payload)
        # Only the missing claims: UserInfo never overrides the ID token.
        for name in missing:
            if name in userinfo:
                claims[name] = userinfo[name]
        return claims

    def verified_sign_in(self, flow: LoginFlow, code: str) -> VerifiedSignIn:
        """Exchange ``code`` and validate what comes back (no account is touched)."""
        token_info = self.get_token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": flow.redirect_uri,
                "code_verifier": flow.code_verifier,
            }
        )
        id_token = token_info["id_token"]
        claims = self.verify_token(id_token, nonce=flow.nonce)
        access_token = token_info.get("access_token")
        completed = self.get_userinfo(
            access_token if isinstance(access_token, str) else None, id_token, claims
        )
        used_userinfo = completed != claims
        group_names = None
        config = self._config()
        if (
            config.groups_from_graph
            and self.profile().single_tenant_issuer
            and isinstance(access_token, str)
            and needs_groups_overage_lookup(completed, config.groups_claim)
        ):
            found = graph_groups(access_token)
            completed = claims_with_groups(completed, config.groups_claim, found.ids)
            group_names = found.names
        return VerifiedSignIn(
            claims=completed,
            id_token=id_token,
            used_userinfo=used_userinfo,
            group_names=group_names,
        )

    # ------------------------------------------------------------ accounts

    def authenticate(
        self,
        request: Any,
        sso_flow: LoginFlow | None = None,
        code: str | None = None,
        invitation_id: int | None = None,
        **kwargs: Any,
    ) -> User | None:
        """Sign in with an authorization code for ``sso_flow``.

        Returns None for any other kind of credentials (password sign-in runs
        every backend). Raises OIDCError or SignInRefused on failure.
        """
        # Not the parent's: it acts on any authenticate() call whose request
        # has ?code=&state= (a password sign-in included), builds the
        # redirect URI from the Host header instead of SITE_URL, and knows no
        # organization; the callback view hands us the checked flow instead.
        if sso_flow is None or not code or self.config is None or request is None:
            return None
        self.request = request
        self.invitation_id = invitation_id
        self.verified = self.verified_sign_in(sso_flow, code)
        return self.get_or_create_user(
            None, self.verified.id_token, self.verified.claims
        )

    def get_or_create_user(
        self, access_token: str | None, id_token: str, payload: dict[str, Any]
    ) -> User:
        """Find, link or provision the account under the sign-in rules."""
        config = self._config()
        connection = config.connection
        result = signin_complete(
            organization=connection.organization,
            connection=connection,
            config=config,
            claims=payload,
            invitation_id=self.invitation_id,
            ip=client_ip(self.request) if self.request else None,
        )
        return result.user

    def get_user(self, user_id: Any) -> User | None:
        # The parent returns deactivated users too; Django's rule does not.
        try:
            pk = User._meta.pk.to_python(user_id)
        except (TypeError, ValueError, ValidationError):
            return None
        user = User.objects.filter(pk=pk).first() if pk is not None else None
        return user if user is not None and self.user_can_authenticate(user) else None


def _unusable_text(what: str) -> OIDCError:
    """``what`` is the translated subject: "The ID token", "The UserInfo response"."""
    return OIDCError(
        "malformed",
        _(
            "%(what)s contains text that cannot be stored: a NUL character or "
            "invalid Unicode."
        )
        % {"what": what},
        _("The provider is misbehaving; check the claims it sends for this user."),
    )


def require_clean_text(value: Any, what: str) -> None:
    """Refuse claims with NUL characters or lone surrogates anywhere; ``what``
    names the document in the sentence (translated: "The ID token").

    JSON can carry both (as \\u0000 and \\ud800 escapes), a valid signature
    does not make them storable, and PostgreSQL rejects them: refusing them
    here keeps a misbehaving IdP from turning a sign-in into a server error.
    """
    pending = [value]
    while pending:  # a loop, not recursion: nesting depth is the IdP's choice
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise _unusable_text(what) from None
            if "\x00" in item:
                raise _unusable_text(what)


def _token_fix(exc: outbound.OutboundError) -> str:
    response = getattr(exc, "response", None)
    error = ""
    if response is not None:
        try:
            doc = response.json()
        except outbound.OutboundError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            error = doc["error"]
    if error == "invalid_client":
        return _(
            "The provider did not accept the client ID and secret: copy them again "
            "from the app at the provider."
        )
    if error == "invalid_grant":
        return _(
            "The provider did not accept the code (it expired, was used already, "
            "or the redirect URI differs). Sign in again."
        )
    return _fix_reach()
