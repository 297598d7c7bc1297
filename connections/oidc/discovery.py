"""OpenID Connect Discovery: issuer input, the metadata document, and its cache.

This module also defines the small interfaces the protocol code needs from
its caller: ``Fetch`` (the project's outbound HTTP client, injected so this
package never opens a socket itself) and ``CacheLike`` (Django's cache, or
any object with ``get``/``set``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from connections.oidc.errors import (
    OIDCError,
    is_outbound_error,
    issuer_mismatch_fix,
    quoted,
)

WELL_KNOWN_PATH = "/.well-known/openid-configuration"
# Okta's admin console shows the OAuth metadata URL of an authorization
# server; people paste it, and it sits under the same issuer.
_PASTED_METADATA_SUFFIXES = (WELL_KNOWN_PATH, "/.well-known/oauth-authorization-server")
_DEFAULT_TTL = 3600
# Bounds on how long a provider's own Cache-Control may keep its documents.
MIN_CACHE_SECONDS = 60
MAX_CACHE_SECONDS = 24 * 60 * 60


class FetchResponse(Protocol):
    """What the injected fetch returns (``connections.outbound.OutboundResponse``)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...

    @property
    def url(self) -> str: ...

    def json(self) -> Any: ...


class Fetch(Protocol):
    """The outbound HTTP client; raises ``OutboundError`` (with ``.kind``)."""

    def __call__(
        self,
        url: str,
        *,
        method: str = "GET",
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> FetchResponse: ...


class CacheLike(Protocol):
    """The subset of Django's cache API used here."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: Any = None) -> None: ...

    def add(self, key: str, value: Any, timeout: Any = None) -> bool: ...


def cache_key(kind: str, url: str) -> str:
    """A cache key for ``url``: hashed, because URLs can exceed key limits."""
    return f"oidc:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


def fetch_json(fetch: Fetch, url: str, *, step: str, what: str) -> Any:
    """GET ``url`` and decode JSON, turning transport failures into OIDCError.

    ``what`` names the document in the sentences, translated by the caller.
    """
    fix = _(
        "Check that the URL is right and that the provider is reachable from this "
        "server."
    )
    try:
        response = fetch(url, headers={"Accept": "application/json"})
        if response.status != 200:
            raise OIDCError(
                step,
                _("The %(what)s at %(url)s answered with HTTP status %(status)s.")
                % {"what": what, "url": url, "status": response.status},
                fix,
            )
        return response.json()
    except OIDCError:
        raise
    except Exception as exc:
        if not is_outbound_error(exc):
            raise
        raise OIDCError(
            step,
            _("Could not fetch the %(what)s from %(url)s: %(problem)s")
            % {"what": what, "url": url, "problem": exc},
            fix,
        ) from exc


def _check_url(
    url: str, *, what: str, step: str, allow_insecure: bool, allow_query: bool = False
) -> None:
    """Refuse anything but an absolute https URL without credentials or fragment.

    An issuer may not have a query either (Discovery 1.0 section 2); an
    endpoint may (RFC 6749 3.1; Azure AD B2C uses one to name the policy).
    ``what`` names the URL in the sentences, translated by the caller.
    """
    fix = _("Use an absolute https:// URL such as 'https://example.okta.com'.")
    # A URL with '@' may carry credentials: never repeat it back.
    label = (
        _("The %(what)s") % {"what": what}
        if "@" in url
        else _("The %(what)s %(url)s") % {"what": what, "url": quoted(url)}
    )
    names = {"label": label, "what": what}
    if not url or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise OIDCError(
            step, _("The %(what)s is empty or contains spaces.") % names, fix
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsing the port validates it
    except ValueError:
        raise OIDCError(step, _("%(label)s is not a valid URL.") % names, fix) from None
    allowed = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme.lower() not in allowed:
        raise OIDCError(step, _("%(label)s does not start with https://.") % names, fix)
    if not parts.hostname:
        raise OIDCError(step, _("%(label)s has no host name.") % names, fix)
    if parts.username is not None or parts.password is not None:
        raise OIDCError(
            step,
            _("The %(what)s contains a user name or password.") % names,
            _("Remove the credentials from the URL."),
        )
    if "#" in url or ("?" in url and not allow_query):
        raise OIDCError(
            step,
            _("%(label)s has a query string or fragment, which it may not have.")
            % names,
            _("Remove everything from the '?' or '#' on."),
        )


def issuer_from_input(value: str, *, allow_insecure: bool = False) -> str:
    """The issuer an admin means by ``value``: an issuer or a metadata URL.

    Whitespace is trimmed, scheme and host are lower-cased and a pasted
    ``/.well-known/...`` suffix is removed. A trailing slash is kept, because
    some providers' issuers end with one and issuers are compared exactly.
    """
    text = value.strip()
    for suffix in _PASTED_METADATA_SUFFIXES:
        if text.rstrip("/").endswith(suffix):
            text = text.rstrip("/")[: -len(suffix)]
            break
    _check_url(
        text, what=_("issuer URL"), step="issuer_url", allow_insecure=allow_insecure
    )
    scheme, rest = text.split("://", 1)
    netloc, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{netloc.lower()}{slash}{path}"


def discovery_url(issuer_or_url: str, *, allow_insecure: bool = False) -> str:
    """The OpenID Connect Discovery URL for an issuer or a pasted metadata URL."""
    issuer = issuer_from_input(issuer_or_url, allow_insecure=allow_insecure)
    # OIDC Discovery 1.0 section 4: strip one trailing slash, append the path.
    return issuer.removesuffix("/") + WELL_KNOWN_PATH


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of a provider's discovery document this project uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    id_token_signing_alg_values_supported: tuple[str, ...]
    token_endpoint_auth_methods_supported: tuple[str, ...]
    scopes_supported: tuple[str, ...]
    claims_supported: tuple[str, ...]
    code_challenge_methods_supported: tuple[str, ...]
    authorization_response_iss_parameter_supported: bool
    response_types_supported: tuple[str, ...]
    # Back-Channel Logout 1.0 section 2.1: the provider can call our
    # back-channel logout URI, and (session) puts `sid` in ID tokens and
    # logout tokens. Only a JSON true counts; anything else means no.
    backchannel_logout_supported: bool = False
    backchannel_logout_session_supported: bool = False


def _missing(field: str) -> OIDCError:
    return OIDCError(
        "discovery",
        _("The provider's discovery document has no '%(field)s'.") % {"field": field},
        _(
            "Check that the issuer URL points at an OpenID Connect provider (for "
            "Okta, an authorization server), not at a plain OAuth server or a web "
            "page."
        ),
    )


def _invalid(field: str, expected: str) -> OIDCError:
    return OIDCError(
        "discovery",
        _(
            "The provider's discovery document has an invalid '%(field)s': it "
            "should be %(expected)s."
        )
        % {"field": field, "expected": expected},
        _(
            "The provider is misconfigured or this is not an OpenID Connect "
            "provider; check the issuer URL."
        ),
    )


def _optional_url(
    doc: Mapping[str, Any], field: str, *, allow_insecure: bool
) -> str | None:
    value = doc.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, _("a URL"))
    try:
        _check_url(
            value,
            what=f"'{field}'",
            step="discovery",
            allow_insecure=allow_insecure,
            # The issuer is an identifier, compared exactly; endpoints are URLs.
            allow_query=field != "issuer",
        )
    except OIDCError as exc:
        raise OIDCError(
            "discovery",
            _("The provider's discovery document has an unusable '%(field)s': %(why)s")
            % {"field": field, "why": exc.detail},
            _("Endpoints must be https:// URLs; check the provider's settings."),
        ) from None
    return value


def _required_url(doc: Mapping[str, Any], field: str, *, allow_insecure: bool) -> str:
    value = _optional_url(doc, field, allow_insecure=allow_insecure)
    if value is None:
        raise _missing(field)
    return value


def _strings_field(
    doc: Mapping[str, Any],
    field: str,
    *,
    required: bool,
    default: tuple[str, ...] = (),
) -> tuple[str, ...]:
    value = doc.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(field, _("a list of strings"))
    if required and not value:
        raise _invalid(field, _("a non-empty list of strings"))
    return tuple(value)


def parse_metadata(
    doc: Mapping[str, Any], *, allow_insecure: bool = False
) -> ProviderMetadata:
    """Validate a discovery document and return the fields this project uses.

    Raises OIDCError(step="discovery") naming the first missing or invalid
    field. Endpoints must be https unless ``allow_insecure`` (local IdPs).
    """
    if not isinstance(doc, Mapping):
        raise OIDCError(
            "discovery",
            _("The provider's discovery document is not a JSON object."),
            _("Check that the issuer URL points at an OpenID Connect provider."),
        )
    issuer = _required_url(doc, "issuer", allow_insecure=allow_insecure)
    authorization_endpoint = _required_url(
        doc, "authorization_endpoint", allow_insecure=allow_insecure
    )
    token_endpoint = _required_url(doc, "token_endpoint", allow_insecure=allow_insecure)
    jwks_uri = _required_url(doc, "jwks_uri", allow_insecure=allow_insecure)
    userinfo_endpoint = _optional_url(
        doc, "userinfo_endpoint", allow_insecure=allow_insecure
    )
    end_session_endpoint = _optional_url(
        doc, "end_session_endpoint", allow_insecure=allow_insecure
    )
    response_types = _strings_field(doc, "response_types_supported", required=True)
    if "code" not in response_types:
        raise OIDCError(
            "discovery",
            _(
                "The provider does not offer the authorization code flow ('code' is "
                "missing from 'response_types_supported')."
            ),
            _(
                "Enable the authorization code grant for this application at the "
                "provider."
            ),
        )
    iss_param = doc.get("authorization_response_iss_parameter_supported", False)
    if not isinstance(iss_param, bool):
        raise _invalid(
            "authorization_response_iss_parameter_supported", _("true/false")
        )
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=authorization_endpoint,
        token_endpoint=token_endpoint,
        jwks_uri=jwks_uri,
        userinfo_endpoint=userinfo_endpoint,
        end_session_endpoint=end_session_endpoint,
        id_token_signing_alg_values_supported=_strings_field(
            doc, "id_token_signing_alg_values_supported", required=True
        ),
        # Discovery 1.0 section 3: when omitted, the default is
        # client_secret_basic.
        token_endpoint_auth_methods_supported=_strings_field(
            doc,
            "token_endpoint_auth_methods_supported",
            required=False,
            default=("client_secret_basic",),
        ),
        scopes_supported=_strings_field(doc, "scopes_supported", required=False),
        claims_supported=_strings_field(doc, "claims_supported", required=False),
        code_challenge_methods_supported=_strings_field(
            doc, "code_challenge_methods_supported", required=False
        ),
        authorization_response_iss_parameter_supported=iss_param,
        response_types_supported=response_types,
        backchannel_logout_supported=doc.get("backchannel_logout_supported") is True,
        backchannel_logout_session_supported=(
            doc.get("backchannel_logout_session_supported") is True
        ),
    )


def _check_issuer(doc: Any, issuer: str) -> None:
    reported = doc.get("issuer") if isinstance(doc, Mapping) else None
    if isinstance(reported, str) and reported != issuer:
        raise OIDCError(
            "issuer_mismatch",
            _(
                "The provider reports its issuer as %(reported)s, but this "
                "connection is configured with %(configured)s; they must match "
                "exactly."
            )
            % {"reported": quoted(reported), "configured": quoted(issuer)},
            issuer_mismatch_fix(issuer, reported),
        )


def cache_ttl(
    cache_control: str | None,
    default: int,
    *,
    minimum: int = MIN_CACHE_SECONDS,
    maximum: int = MAX_CACHE_SECONDS,
) -> int:
    """How long to keep a provider's document: its ``Cache-Control: max-age``
    within [minimum, maximum]; ``no-store``/``no-cache`` mean the minimum;
    without either, ``default`` (within the same bounds)."""
    directives = {
        part.strip().lower().split("=", 1)[0]: part.strip().partition("=")[2]
        for part in (cache_control or "").split(",")
        if part.strip()
    }
    if "no-store" in directives or "no-cache" in directives:
        return minimum
    age = directives.get("max-age", "").strip('"')
    seconds = int(age) if age.isdigit() else default
    return max(minimum, min(maximum, seconds))


class HeaderRecorder:
    """A ``Fetch`` that remembers the headers of the last response it passed on."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        self.headers: Mapping[str, str] = {}

    def __call__(self, url: str, **kwargs: Any) -> FetchResponse:
        response = self.fetch(url, **kwargs)
        self.headers = response.headers
        return response


def fetch_metadata(
    fetch: Fetch,
    issuer: str,
    *,
    cache: CacheLike | None = None,
    ttl: int = _DEFAULT_TTL,
    allow_insecure: bool = False,
    refresh: bool = False,
    before_fetch: Callable[[], None] | None = None,
) -> ProviderMetadata:
    """Fetch, validate and cache the discovery document of ``issuer``.

    ``issuer`` is the configured issuer (see ``issuer_from_input``); the
    document's ``issuer`` must equal it exactly (Discovery 1.0 section 4.3),
    otherwise OIDCError(step="issuer_mismatch"). Only validated documents are
    cached, under a key derived from the issuer, for the provider's
    ``Cache-Control: max-age`` within bounds (``ttl`` without one), and they
    are re-validated on every read so a setting change (``allow_insecure``)
    applies at once. ``refresh`` skips the cached copy. ``before_fetch`` runs
    only when the document must be fetched (it may refuse by raising).
    """
    url = discovery_url(issuer, allow_insecure=allow_insecure)
    key = cache_key("discovery", issuer)
    if cache is not None and not refresh:
        cached = cache.get(key)
        if isinstance(cached, dict):
            _check_issuer(cached, issuer)
            return parse_metadata(cached, allow_insecure=allow_insecure)
    if before_fetch is not None:
        before_fetch()
    recorder = HeaderRecorder(fetch)
    doc = fetch_json(recorder, url, step="discovery", what=_("discovery document"))
    # The issuer check comes first: a wrong issuer explains any other oddity.
    _check_issuer(doc, issuer)
    metadata = parse_metadata(doc, allow_insecure=allow_insecure)
    if cache is not None:
        cache.set(key, dict(doc), cache_ttl(recorder.headers.get("Cache-Control"), ttl))
    return metadata
