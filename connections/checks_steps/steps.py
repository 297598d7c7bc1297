"""Steps 2 to 7 and the run of all eight, in order.

The client secret is sent once, to the token endpoint in step 6, and only when
the issuer and the endpoints passed. It never appears in a detail, a fix, the
summary or a log line: an IdP that echoes it back in an error is redacted.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from connections.checks_steps.clock import clock_offset, clock_step
from connections.checks_steps.policy import Resolve, UrlPolicy, resolve_host
from connections.checks_steps.results import (
    FAILED,
    PASSED,
    SKIPPED,
    STEPS,
    WARNING,
    CheckInput,
    CheckOutcome,
    CheckPolicy,
    Step,
)
from connections.oidc.client_auth import (
    PRIVATE_KEY_JWT,
    client_auth,
    token_auth_method,
)
from connections.oidc.discovery import (
    Fetch,
    FetchResponse,
    ProviderMetadata,
    discovery_url,
    parse_metadata,
)
from connections.oidc.errors import (
    OIDCError,
    is_outbound_error,
    issuer_mismatch_fix,
    looks_like_okta,
    quoted,
)
from connections.oidc.jwks import ASYMMETRIC_ALGS, key_problem
from connections.oidc.providers import (
    ENTRA,
    GOOGLE,
    OKTA,
    issuer_problem,
    okta_custom_server,
    profile_for,
)
from connections.oidc.tokens import accepted_algs
from connections.outbound import basic_credentials, redact

# OAuth error codes a token endpoint gives only after it authenticated the
# client: the credentials are right, the client_credentials grant is just not
# enabled for this app (Okta web apps answer unauthorized_client).
_ACCEPTED_CREDENTIAL_ERRORS: Final = frozenset(
    {"unauthorized_client", "unsupported_grant_type", "invalid_scope", "invalid_grant"}
)
_OAUTH_ERROR_RE: Final = re.compile(r"[a-z_]{1,60}")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_ENDPOINT_FIELDS: Final = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "end_session_endpoint",
)
_OKTA_ISSUER_HINT: Final = gettext_lazy(
    "In Okta, the org authorization server's issuer is "
    "'https://<your-org>.okta.com' and a custom authorization server's is "
    "'https://<your-org>.okta.com/oauth2/<id>' (for example '/oauth2/default'). "
    "With a custom domain, set Security > API > Authorization Servers > (your "
    "server) > Settings > Issuer to 'Okta URL' instead of 'Dynamic'."
)
_OKTA_GROUPS_FIX: Final = gettext_lazy(
    "In Okta, open Security > API > Authorization Servers > (your server) > "
    "Claims and add a claim: Name '%(claim)s', Include in token type 'ID Token' "
    "'Always', Value type 'Groups', Filter 'Matches regex' with '.*', Include in "
    "'The following scopes' 'openid'. For the org authorization server, set the "
    "app's Sign On > OpenID Connect ID Token > Groups claim filter to '%(claim)s' "
    "'Matches regex' '.*'."
)

_OKTA_CUSTOM_SERVER_GROUPS_FIX: Final = gettext_lazy(
    "In the Okta Admin Console, open Security > API > Authorization Servers > "
    "(this server) > Claims > Add Claim: Name '%(claim)s', Include in token type "
    "'ID Token' 'Always', Value type 'Groups', Filter 'Matches regex' '.*' (or "
    "a narrower filter), Include in 'Any scope'. Then run the check again."
)
_ENTRA_GROUPS_FIX: Final = gettext_lazy(
    "In the Microsoft Entra admin center, open App registrations > (your app) > "
    "Token configuration > Add groups claim, choose 'Groups assigned to the "
    "application' and, for the ID token, 'Group ID'. Entra ID sends group "
    "object IDs (GUIDs): map those on the role mapping page."
)
_GOOGLE_HD_NOTE: Final = gettext_lazy(
    "Google does not say before sign-in whether this OAuth client admits only "
    "your Workspace's accounts; every sign-in is checked instead: its 'hd' "
    "(hosted domain) must be a domain this organization has verified, so "
    "consumer Google accounts are refused. Google sends no groups: people get "
    "the default role or their invitation's."
)
_GOOGLE_HD_FIX: Final = gettext_lazy(
    "In the Google Cloud console, open APIs & Services > OAuth consent screen "
    "and set User type to 'Internal', so only your Workspace's accounts can "
    "sign in at all; run a test sign-in to see the 'hd' claim."
)


def _credentials_fix(provider: str) -> str:
    """Where to copy the client ID and secret from, in the provider's menus."""
    if provider == ENTRA:
        return _(
            "Copy the Application (client) ID from App registrations > (your "
            "app) > Overview, and a client secret's Value (not its Secret ID) "
            "from Certificates & secrets, in the Microsoft Entra admin center; "
            "check that the secret has not expired."
        )
    if provider == GOOGLE:
        return _(
            "Copy the client ID and client secret again from the Google Cloud "
            "console > APIs & Services > Credentials > (your OAuth 2.0 client)."
        )
    return _(
        "Copy the client ID and client secret again from the IdP (Okta: "
        "Applications > your app > General > Client Credentials) and save them "
        "here; check that the app is active and belongs to this issuer's "
        "authorization server."
    )


def _clean(text: str, limit: int = 200) -> str:
    text = " ".join(_CONTROL_RE.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _usable_algs(keys: list[Any], algs: tuple[str, ...]) -> list[str]:
    """The advertised algorithms for which the key set holds a verifying key."""
    usable = []
    for alg in algs:
        for jwk in keys:
            if not isinstance(jwk, dict) or jwk.get("use") not in (None, "sig"):
                continue
            if jwk.get("alg") not in (None, alg):
                continue
            try:
                parsed = PyJWK(dict(jwk), algorithm=alg)
            except (PyJWTError, ValueError, TypeError, AttributeError, KeyError):
                continue
            if key_problem(parsed.key, alg) is None:
                usable.append(alg)
                break
    return usable


_OUTBOUND_FIXES: Final = {
    "timeout": gettext_lazy(
        "The IdP did not answer in time. Check that it is up and reachable from "
        "this server, then run the check again."
    ),
    "connection": gettext_lazy(
        "Check the host name and port in the issuer URL, and that this server can "
        "reach the IdP (DNS, firewall)."
    ),
    "redirect": gettext_lazy(
        "Enter the issuer exactly as the IdP reports it: redirects are not "
        "followed (a missing or extra path, or http:// instead of https://, are "
        "common causes)."
    ),
    "policy": gettext_lazy("Use the IdP's public https:// issuer URL."),
    "bad_json": gettext_lazy(
        "The URL serves a web page, not the discovery document: check that the "
        "issuer URL is the issuer itself (for Okta 'https://<your-org>.okta.com' "
        "or '.../oauth2/default')."
    ),
    "too_large": gettext_lazy(
        "Check that the issuer URL points at an OpenID Connect provider."
    ),
}


def _outbound_fix(kind: str) -> str:
    fix = _OUTBOUND_FIXES.get(kind)
    if fix is None:
        return _("Check the issuer URL and that the IdP is reachable.")
    return str(fix)


class _Run:
    """One run of the eight steps; keeps what earlier steps learned."""

    def __init__(
        self,
        inputs: CheckInput,
        *,
        policy: CheckPolicy,
        fetch: Fetch,
        resolve: Resolve,
        clock: Callable[[], float],
    ) -> None:
        self.inputs = inputs
        self.policy = policy
        self._fetch_fn = fetch
        self.urls = UrlPolicy(policy, resolve)
        self.clock = clock
        self.date_sample: tuple[str, float, float] | None = None
        self.doc: Mapping[str, Any] | None = None
        self.metadata: ProviderMetadata | None = None
        self.summary: dict[str, Any] = {"issuer": inputs.issuer}

    # -- network --------------------------------------------------------

    def fetch(self, url: str, **kwargs: Any) -> FetchResponse:
        """Fetch and remember the first Date header seen (for step 8)."""
        sent_at = self.clock()
        try:
            response = self._fetch_fn(url, **kwargs)
        except Exception as exc:
            answer = getattr(exc, "response", None)
            if answer is not None:
                self._note_date(answer.headers, sent_at)
            raise
        self._note_date(response.headers, sent_at)
        return response

    def _note_date(self, headers: Mapping[str, str], sent_at: float) -> None:
        date = headers.get("Date")
        if date and self.date_sample is None:
            self.date_sample = (date, sent_at, self.clock())

    # -- the steps ------------------------------------------------------

    def step_url_policy(self) -> Step:
        problem = self.urls.problem(self.inputs.issuer, _("issuer URL"))
        if problem:
            detail, fix = problem
            return Step("url_policy", FAILED, detail, fix)
        # The provider's own rule for the issuer (Entra: one tenant, never
        # /common), before anything is fetched from it.
        shape = issuer_problem(profile_for(self.inputs.provider), self.inputs.issuer)
        if shape:
            detail, fix = shape
            return Step("url_policy", FAILED, detail, fix)
        host = urlsplit(self.inputs.issuer).hostname or ""
        names = {
            "host": host,
            "addresses": ", ".join(self.urls.addresses_of(self.inputs.issuer)[:4]),
        }
        return Step(
            "url_policy",
            PASSED,
            _(
                "%(host)s resolves to %(addresses)s (private addresses are allowed "
                "by SSO_ALLOW_PRIVATE_NETWORKS)."
            )
            % names
            if self.policy.allow_private
            else _("%(host)s resolves to %(addresses)s.") % names,
        )

    def step_discovery(self) -> Step:
        url = discovery_url(
            self.inputs.issuer, allow_insecure=self.policy.allow_insecure
        )
        self.summary["discovery_url"] = url
        try:
            response = self.fetch(url, headers={"Accept": "application/json"})
            doc = response.json()
        except Exception as exc:
            if not is_outbound_error(exc):
                raise
            kind = str(getattr(exc, "kind", ""))
            if kind == "http" and getattr(exc, "status", None) == 404:
                return Step(
                    "discovery",
                    FAILED,
                    _("There is no discovery document at %(url)s (HTTP 404).")
                    % {"url": url},
                    _(
                        "Check the issuer URL: the document must be at "
                        "<issuer>/.well-known/openid-configuration. For Okta use "
                        "'https://<your-org>.okta.com' or "
                        "'https://<your-org>.okta.com/oauth2/default'."
                    ),
                )
            return Step("discovery", FAILED, str(exc), _outbound_fix(kind))
        self.doc = doc if isinstance(doc, Mapping) else None
        try:
            self.metadata = parse_metadata(
                doc, allow_insecure=self.policy.allow_insecure
            )
        except OIDCError as exc:
            return Step("discovery", FAILED, exc.detail, exc.fix)
        self.summary["backchannel_logout"] = backchannel_logout_support(self.metadata)
        return Step(
            "discovery",
            PASSED,
            _(
                "Fetched %(url)s: it has every required field (issuer, "
                "authorization, token and JWKS endpoints, signing algorithms, the "
                "code flow)."
            )
            % {"url": url},
        )

    def step_issuer(self) -> Step:
        reported = self.doc.get("issuer") if self.doc else None
        configured = self.inputs.issuer
        if reported == configured:
            return Step(
                "issuer",
                PASSED,
                _("The IdP reports the issuer %(issuer)s, exactly as configured.")
                % {"issuer": quoted(configured)},
            )
        reported_text = reported if isinstance(reported, str) else _("(none)")
        fix = issuer_mismatch_fix(configured, reported_text)
        if (
            self.inputs.okta
            and not looks_like_okta(configured)
            and not looks_like_okta(reported_text)
        ):
            fix += " " + str(_OKTA_ISSUER_HINT)
        return Step(
            "issuer",
            FAILED,
            _(
                "The IdP reports its issuer as %(reported)s, but this connection is "
                "configured with %(configured)s; they must match exactly."
            )
            % {"reported": quoted(reported_text), "configured": quoted(configured)},
            fix,
        )

    def step_endpoints(self) -> Step:
        assert self.metadata is not None
        checked = 0
        for name in _ENDPOINT_FIELDS:
            url = getattr(self.metadata, name)
            if not url:
                continue
            checked += 1
            problem = self.urls.problem(url, f"'{name}'")
            if problem:
                detail, fix = problem
                return Step(
                    "endpoints",
                    FAILED,
                    detail,
                    fix
                    or _(
                        "The IdP's discovery document lists this endpoint; check "
                        "the IdP's settings."
                    ),
                )
        return Step(
            "endpoints",
            PASSED,
            ngettext(
                "The %(count)d endpoint the IdP lists passes the URL policy.",
                "All %(count)d endpoints the IdP lists pass the URL policy.",
                checked,
            )
            % {"count": checked},
        )

    def step_jwks(self) -> Step:
        assert self.metadata is not None
        uri = self.metadata.jwks_uri
        advertised = self.metadata.id_token_signing_alg_values_supported
        algs = accepted_algs(advertised)
        if not algs:
            return Step(
                "jwks",
                FAILED,
                _(
                    "The IdP signs ID tokens only with %(advertised)s; none is a "
                    "public-key algorithm this console accepts (%(accepted)s)."
                )
                % {
                    "advertised": ", ".join(advertised) or _("no algorithm"),
                    "accepted": ", ".join(sorted(ASYMMETRIC_ALGS)),
                },
                _("Configure the IdP to sign ID tokens with RS256 (Okta's default)."),
            )
        try:
            doc = self.fetch(uri, headers={"Accept": "application/json"}).json()
        except Exception as exc:
            if not is_outbound_error(exc):
                raise
            return Step(
                "jwks",
                FAILED,
                _("Could not fetch the signing keys: %(problem)s") % {"problem": exc},
                _(
                    "Check the IdP's 'jwks_uri' and that it is reachable from this "
                    "server."
                ),
            )
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, list) or not keys:
            return Step(
                "jwks",
                FAILED,
                _("The key set at %(url)s holds no keys.") % {"url": uri},
                _("Check that the IdP has an active signing key."),
            )
        usable = _usable_algs(keys, algs)
        self.summary["signing_algs"] = usable
        if not usable:
            return Step(
                "jwks",
                FAILED,
                ngettext(
                    "The key set at %(url)s holds %(count)d key, but it cannot "
                    "verify the %(algs)s signatures the IdP advertises.",
                    "The key set at %(url)s holds %(count)d keys, but none can "
                    "verify the %(algs)s signatures the IdP advertises.",
                    len(keys),
                )
                % {"url": uri, "count": len(keys), "algs": ", ".join(algs)},
                _("Check the IdP's signing keys and ID token signing algorithm."),
            )
        return Step(
            "jwks",
            PASSED,
            ngettext(
                "The key set holds %(count)d key; %(algs)s signatures can be verified.",
                "The key set holds %(count)d keys; %(algs)s signatures can be "
                "verified.",
                len(keys),
            )
            % {"count": len(keys), "algs": ", ".join(usable)},
        )

    def step_client_credentials(self) -> Step:
        assert self.metadata is not None
        inputs = self.inputs
        supported = self.metadata.token_endpoint_auth_methods_supported
        method = token_auth_method(
            supported, inputs.token_auth_method, has_secret=bool(inputs.client_secret)
        )
        if method is None:
            return Step(
                "client_credentials",
                FAILED,
                _(
                    "The token endpoint accepts only %(methods)s client "
                    "authentication; this connection authenticates with "
                    "%(configured)s."
                )
                % {
                    "methods": ", ".join(supported),
                    "configured": inputs.token_auth_method
                    # Translators: the method left to the IdP's discovery document.
                    or _("a client secret (client_secret_basic or client_secret_post)"),
                },
                _(
                    "In the IdP, set the app's client authentication to the "
                    "connection's method (Okta: Applications > your app > General "
                    "> Client Credentials: 'Client secret' or 'Public key / "
                    "Private key'), or change the connection's method here."
                ),
            )
        self.summary["token_endpoint_auth_method"] = method
        if method == PRIVATE_KEY_JWT and inputs.assertion_key is None:
            return Step(
                "client_credentials",
                FAILED,
                _("The connection has no signing key for private_key_jwt."),
                _("Add a signing key on the connection's page, then run the check."),
            )
        # The same client authentication as a real sign-in's code exchange:
        # with private_key_jwt, a fresh assertion signed for this request.
        credentials = client_auth(
            method,
            inputs.client_id,
            inputs.client_secret,
            token_endpoint=self.metadata.token_endpoint,
            key=inputs.assertion_key,
        )
        if method == PRIVATE_KEY_JWT:
            return self._client_credentials_sent(
                method,
                credentials,
                _(
                    "Give the IdP the console's public keys: in Okta, Applications "
                    "> your app > General > Client Credentials > 'Public key / "
                    "Private key', then paste the key set shown on the "
                    "connection's page or enter its JWKS URL; check that the app "
                    "is active and belongs to this issuer's authorization server."
                ),
            )
        return self._client_credentials_sent(
            method, credentials, _credentials_fix(self.inputs.provider)
        )

    def _client_credentials_sent(
        self, method: str, credentials: Any, fix_credentials: str
    ) -> Step:
        """Send a client-credentials request authenticated by ``credentials``."""
        assert self.metadata is not None
        try:
            # The 200 answer carries an access token: it is dropped unread.
            self.fetch(
                self.metadata.token_endpoint,
                method="POST",
                data={"grant_type": "client_credentials"} | credentials.data,
                auth=credentials.basic,
                headers={"Accept": "application/json"},
            )
        except Exception as exc:
            if not is_outbound_error(exc):
                raise
            if getattr(exc, "kind", "") != "http":
                return Step(
                    "client_credentials",
                    FAILED,
                    _("The token endpoint could not be reached: %(problem)s")
                    % {"problem": exc},
                    _outbound_fix(str(getattr(exc, "kind", ""))),
                )
            status = getattr(exc, "status", None)
            error, description = self._oauth_error(
                getattr(exc, "response", None),
                [credentials.data.get("client_assertion", "")],
            )
            # The IdP's own words, untranslated: an OAuth error code and its text.
            said = f" ({error}{': ' + description if description else ''})"
            if error in _ACCEPTED_CREDENTIAL_ERRORS:
                return Step(
                    "client_credentials",
                    PASSED,
                    (
                        _(
                            "The IdP accepted the client ID and the signed client "
                            "assertion (%(method)s); it refused the "
                            "client-credentials grant itself%(said)s, which is "
                            "expected for a web app that uses the authorization "
                            "code flow."
                        )
                        if method == PRIVATE_KEY_JWT
                        else _(
                            "The IdP accepted the client ID and secret (%(method)s); "
                            "it refused the client-credentials grant itself"
                            "%(said)s, which is expected for a web app that uses "
                            "the authorization code flow."
                        )
                    )
                    % {"method": method, "said": said},
                )
            answer = {"status": status, "said": said if error else ""}
            if error == "invalid_client" or status == 401:
                return Step(
                    "client_credentials",
                    FAILED,
                    (
                        _(
                            "The IdP rejected the client ID or the signed client "
                            "assertion (HTTP %(status)s%(said)s): it does not know "
                            "the console's public key, or the app does not use "
                            "private_key_jwt."
                        )
                        if method == PRIVATE_KEY_JWT
                        else _(
                            "The IdP rejected the client ID or the client secret "
                            "(HTTP %(status)s%(said)s)."
                        )
                    )
                    % answer,
                    fix_credentials,
                )
            return Step(
                "client_credentials",
                WARNING,
                _(
                    "The token endpoint answered HTTP %(status)s%(said)s, so the "
                    "credentials could not be confirmed."
                )
                % answer,
                _(
                    "Run a test sign-in: it exchanges a real authorization code and "
                    "proves the credentials."
                ),
            )
        return Step(
            "client_credentials",
            PASSED,
            (
                _(
                    "The IdP accepted the client ID and the signed client "
                    "assertion (%(method)s)."
                )
                if method == PRIVATE_KEY_JWT
                else _("The IdP accepted the client ID and secret (%(method)s).")
            )
            % {"method": method},
        )

    def _oauth_error(
        self, response: Any, also_redact: list[str] | None = None
    ) -> tuple[str, str]:
        """The OAuth ``error`` code and a cleaned, secret-free description."""
        if response is None:
            return "", ""
        try:
            body = response.json()
        except Exception:  # any undecodable body simply has no error code
            return "", ""
        if not isinstance(body, dict):
            return "", ""
        error = body.get("error")
        if not isinstance(error, str) or not _OAUTH_ERROR_RE.fullmatch(error):
            return "", ""
        description = body.get("error_description")
        if not isinstance(description, str):
            return error, ""
        # Redact every spelling of the secret before cutting, so no prefix of
        # it can survive: an IdP may quote what it received, decoded or not.
        inputs = self.inputs
        sent = client_auth(
            "client_secret_basic", inputs.client_id, inputs.client_secret
        )
        assert sent.basic is not None
        cleaned = _CONTROL_RE.sub(
            " ",
            redact(
                description,
                [
                    inputs.client_secret,
                    basic_credentials(*sent.basic),
                    *(also_redact or []),
                ],
            ),
        )
        return error, _clean(cleaned, 160)

    def step_scopes_claims(self) -> Step:
        assert self.metadata is not None
        inputs = self.inputs
        problems: list[str] = []
        fixes: list[str] = []
        if "openid" not in inputs.scopes:
            return Step(
                "scopes_claims",
                FAILED,
                _(
                    "The configured scopes do not include 'openid', so the IdP "
                    "would not return an ID token."
                ),
                _("Add 'openid' to the connection's scopes."),
            )
        supported_scopes = set(self.metadata.scopes_supported)
        claims = set(self.metadata.claims_supported)
        if supported_scopes:
            unknown = [s for s in inputs.scopes if s not in supported_scopes]
            if unknown:
                problems.append(
                    ngettext(
                        "The IdP does not list the scope %(scopes)s as supported; "
                        "sign-in may fail with invalid_scope.",
                        "The IdP does not list the scopes %(scopes)s as supported; "
                        "sign-in may fail with invalid_scope.",
                        len(unknown),
                    )
                    % {"scopes": ", ".join(unknown)}
                )
                fixes.append(
                    ngettext(
                        "Remove that scope from the connection, or add it at the IdP.",
                        "Remove those scopes from the connection, or add them at "
                        "the IdP.",
                        len(unknown),
                    )
                )
        groups_ok = inputs.groups_claim in claims or (
            "groups" in supported_scopes
            and "groups" in inputs.scopes
            and inputs.groups_claim == "groups"
        )
        groups = {"claim": inputs.groups_claim}
        if not groups_ok:
            if claims or supported_scopes:
                problems.append(
                    _(
                        "The IdP does not advertise a '%(claim)s' claim or a groups "
                        "scope, so ID tokens may carry no groups and group mappings "
                        "would not apply."
                    )
                    % groups
                )
            else:
                problems.append(
                    _(
                        "The IdP does not advertise its scopes or claims, so the "
                        "'%(claim)s' claim could not be confirmed."
                    )
                    % groups
                )
            if inputs.provider == ENTRA:
                fixes.append(str(_ENTRA_GROUPS_FIX))
            elif inputs.provider == GOOGLE:
                # Google sends no groups at all: not a problem to fix here.
                problems.pop()
            elif inputs.okta or looks_like_okta(inputs.issuer):
                fixes.append(str(_OKTA_GROUPS_FIX) % groups)
            else:
                fixes.append(
                    _(
                        "Configure the IdP to put a '%(claim)s' claim (a list of "
                        "group names) in the ID token. Run a test sign-in to see "
                        "the claims it sends."
                    )
                    % groups
                )
        if claims and inputs.email_claim not in claims:
            problems.append(
                _(
                    "The IdP does not list the '%(claim)s' claim; sign-in needs an "
                    "email address."
                )
                % {"claim": inputs.email_claim}
            )
            fixes.append(
                _(
                    "Set the connection's email claim to the claim your IdP uses "
                    "(for example 'email'), and include the 'email' scope."
                )
            )
        if (
            inputs.provider == OKTA
            and okta_custom_server(inputs.issuer)
            and not groups_ok
            and (claims or supported_scopes)
        ):
            # A custom authorization server ignores the app's groups filter:
            # without a groups claim on the server nobody's groups arrive and
            # every group mapping is dead. The org server has the app's filter.
            return Step(
                "scopes_claims",
                FAILED,
                _(
                    "This Okta custom authorization server has no '%(claim)s' "
                    "claim, so no groups would reach this console (the app's "
                    "groups claim filter does not apply to custom servers)."
                )
                % groups,
                str(_OKTA_CUSTOM_SERVER_GROUPS_FIX) % groups,
            )
        if inputs.provider == GOOGLE:
            problems.append(str(_GOOGLE_HD_NOTE))
            fixes.append(str(_GOOGLE_HD_FIX))
        if problems:
            return Step("scopes_claims", WARNING, " ".join(problems), " ".join(fixes))
        return Step(
            "scopes_claims",
            PASSED,
            _(
                "The scopes %(scopes)s are supported and the IdP provides the "
                "'%(groups)s' and '%(email)s' claims."
            )
            % {
                "scopes": " ".join(inputs.scopes),
                "groups": inputs.groups_claim,
                "email": inputs.email_claim,
            },
        )

    def step_clock(self) -> Step:
        if self.date_sample is None:
            return clock_step(None, 0.0, 0.0, self.inputs.leeway_seconds)
        date, sent_at, received_at = self.date_sample
        with contextlib.suppress(ValueError):
            offset = clock_offset(date, sent_at, received_at)
            self.summary["clock_offset_seconds"] = round(offset)
        return clock_step(date, sent_at, received_at, self.inputs.leeway_seconds)


def backchannel_logout_support(metadata: ProviderMetadata) -> str:
    """What the provider says of Back-Channel Logout: "with_sid" (it calls the
    back-channel logout URI and puts the session id in tokens), "without_sid"
    (it calls it; sessions are ended per person) or "unsupported"."""
    if not metadata.backchannel_logout_supported:
        return "unsupported"
    if metadata.backchannel_logout_session_supported:
        return "with_sid"
    return "without_sid"


def _skipped(key: str, why: str) -> Step:
    return Step(key, SKIPPED, _("Skipped: %(why)s") % {"why": why})


def run_check(
    inputs: CheckInput,
    *,
    policy: CheckPolicy,
    fetch: Fetch,
    resolve: Resolve = resolve_host,
    clock: Callable[[], float] = time.time,
    on_step: Callable[[list[Step]], None] | None = None,
) -> CheckOutcome:
    """Run the eight steps in order and return every step's result.

    ``on_step`` is called with the steps so far after each one, so a caller can
    show progress. A step that depends on a failed one is recorded as skipped
    with the reason.
    """
    run = _Run(inputs, policy=policy, fetch=fetch, resolve=resolve, clock=clock)
    steps: list[Step] = []

    def record(step: Step) -> Step:
        steps.append(step)
        if on_step is not None:
            on_step(list(steps))
        return step

    def skip_rest(why: str) -> CheckOutcome:
        for key, _name in STEPS[len(steps) :]:
            if key == "clock" and run.date_sample is not None:
                record(run.step_clock())
            else:
                record(_skipped(key, why))
        return CheckOutcome(steps, run.summary)

    if record(run.step_url_policy()).status == FAILED:
        return skip_rest(_("the issuer URL failed the URL policy."))
    if record(run.step_discovery()).status == FAILED:
        return skip_rest(_("the discovery document could not be used."))
    issuer = record(run.step_issuer())
    endpoints = record(run.step_endpoints())
    if endpoints.status == FAILED:
        record(_skipped("jwks", _("an endpoint failed the URL policy.")))
    else:
        record(run.step_jwks())
    # The secret goes only to a token endpoint vouched for by a matching issuer
    # and endpoints that passed the policy.
    if FAILED in (issuer.status, endpoints.status):
        record(
            _skipped(
                "client_credentials",
                _(
                    "the client secret is sent only to the token endpoint of an "
                    "IdP whose issuer and endpoints passed."
                ),
            )
        )
    else:
        record(run.step_client_credentials())
    record(run.step_scopes_claims())
    record(run.step_clock())
    return CheckOutcome(steps, run.summary)
