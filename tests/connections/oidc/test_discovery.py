import json
from typing import Any

import pytest

from connections.checks_steps.steps import backchannel_logout_support
from connections.oidc.discovery import (
    discovery_url,
    fetch_metadata,
    issuer_from_input,
    parse_metadata,
)
from connections.oidc.errors import OIDCError

from .fakes import FakeOutboundError, FakeResponse

OKTA_ORG = "https://acme.okta.com"
OKTA_DEFAULT = "https://acme.okta.com/oauth2/default"
REMOVED = object()


class FakeFetch:
    """Serves fixed answers per URL and records every request."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, url, *, method="GET", data=None, headers=None, auth=None):
        self.calls.append(url)
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, FakeResponse):
            return answer
        return FakeResponse(200, json.dumps(answer).encode(), url)


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def set(self, key, value, timeout=None):
        self.data[key] = value


def metadata_doc(issuer: str = OKTA_DEFAULT, **changes: Any) -> dict[str, Any]:
    doc = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/v1/authorize",
        "token_endpoint": f"{issuer}/v1/token",
        "jwks_uri": f"{issuer}/v1/keys",
        "userinfo_endpoint": f"{issuer}/v1/userinfo",
        "end_session_endpoint": f"{issuer}/v1/logout",
        "response_types_supported": ["code", "id_token", "code id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": ["openid", "email", "profile", "groups"],
        "claims_supported": ["sub", "email", "groups"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not REMOVED}


def well_known(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("entered", "expected"),
    [
        (OKTA_ORG, f"{OKTA_ORG}/.well-known/openid-configuration"),
        (OKTA_ORG + "/", f"{OKTA_ORG}/.well-known/openid-configuration"),
        (OKTA_DEFAULT, f"{OKTA_DEFAULT}/.well-known/openid-configuration"),
        ("  https://ACME.Okta.com/oauth2/default  ", well_known(OKTA_DEFAULT)),
        (well_known(OKTA_DEFAULT), well_known(OKTA_DEFAULT)),
        (well_known(OKTA_DEFAULT) + "/", well_known(OKTA_DEFAULT)),
        (
            OKTA_DEFAULT + "/.well-known/oauth-authorization-server",
            well_known(OKTA_DEFAULT),
        ),
        (
            "https://idp.example.com:8443/realms/x",
            well_known("https://idp.example.com:8443/realms/x"),
        ),
    ],
)
def test_discovery_url_normalises_issuers_and_pasted_metadata_urls(entered, expected):
    assert discovery_url(entered) == expected


def test_issuer_from_input_keeps_a_trailing_slash_but_drops_pasted_suffixes():
    assert issuer_from_input("https://tenant.auth0.com/") == "https://tenant.auth0.com/"
    assert issuer_from_input(well_known(OKTA_DEFAULT)) == OKTA_DEFAULT
    assert issuer_from_input(" HTTPS://Acme.OKTA.com ") == OKTA_ORG


@pytest.mark.parametrize(
    "entered",
    [
        "",
        "   ",
        "acme.okta.com",
        "http://acme.okta.com",
        "ftp://acme.okta.com",
        "https://",
        "https:///path",
        "https://acme.okta.com/?x=1",
        "https://acme.okta.com/#top",
        "https://admin:secret@acme.okta.com",
        "https://admin:secret@acme.okta.com:99999",
        "http://admin:secret@acme.okta.com",
        "https://admin:secret@acme.okta.com/?q",
        "https://acme.okta.com/oauth2/de fault",
        "https://acme.okta.com:99999",
    ],
)
def test_discovery_url_refuses_what_cannot_be_an_issuer(entered):
    with pytest.raises(OIDCError) as caught:
        discovery_url(entered)
    assert caught.value.step == "issuer_url"
    assert "secret" not in str(caught.value)


def test_discovery_url_accepts_http_only_when_insecure_issuers_are_allowed():
    url = discovery_url("http://127.0.0.1:9000/", allow_insecure=True)
    assert url == "http://127.0.0.1:9000/.well-known/openid-configuration"


def test_parse_metadata_reads_every_field():
    metadata = parse_metadata(metadata_doc())
    assert metadata.issuer == OKTA_DEFAULT
    assert metadata.token_endpoint == f"{OKTA_DEFAULT}/v1/token"
    assert metadata.jwks_uri == f"{OKTA_DEFAULT}/v1/keys"
    assert metadata.userinfo_endpoint == f"{OKTA_DEFAULT}/v1/userinfo"
    assert metadata.end_session_endpoint == f"{OKTA_DEFAULT}/v1/logout"
    assert metadata.id_token_signing_alg_values_supported == ("RS256",)
    assert metadata.code_challenge_methods_supported == ("S256",)
    assert metadata.authorization_response_iss_parameter_supported is True
    assert "groups" in metadata.scopes_supported


def test_parse_metadata_applies_spec_defaults_for_optional_fields():
    doc = metadata_doc(
        userinfo_endpoint=REMOVED,
        end_session_endpoint=REMOVED,
        token_endpoint_auth_methods_supported=REMOVED,
        scopes_supported=REMOVED,
        claims_supported=REMOVED,
        code_challenge_methods_supported=REMOVED,
        authorization_response_iss_parameter_supported=REMOVED,
    )
    metadata = parse_metadata(doc)
    assert metadata.userinfo_endpoint is None
    assert metadata.end_session_endpoint is None
    assert metadata.token_endpoint_auth_methods_supported == ("client_secret_basic",)
    assert metadata.code_challenge_methods_supported == ()
    assert metadata.authorization_response_iss_parameter_supported is False


@pytest.mark.parametrize(
    ("supported", "session", "expected"),
    [
        (True, True, "with_sid"),
        (True, False, "without_sid"),
        (True, REMOVED, "without_sid"),
        (False, True, "unsupported"),
        (REMOVED, REMOVED, "unsupported"),
        # Only a JSON true counts: an odd value is not a reason to fail discovery.
        ("true", "true", "unsupported"),
        (1, 1, "unsupported"),
    ],
)
def test_parse_metadata_reads_back_channel_logout_support(supported, session, expected):
    doc = metadata_doc(
        backchannel_logout_supported=supported,
        backchannel_logout_session_supported=session,
    )
    assert backchannel_logout_support(parse_metadata(doc)) == expected


@pytest.mark.parametrize(
    "missing",
    [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "id_token_signing_alg_values_supported",
    ],
)
def test_parse_metadata_names_a_missing_required_field(missing):
    with pytest.raises(OIDCError) as caught:
        parse_metadata(metadata_doc(**{missing: REMOVED}))
    assert caught.value.step == "discovery"
    assert f"'{missing}'" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jwks_uri", 42),
        ("jwks_uri", "http://acme.okta.com/keys"),
        ("token_endpoint", "/v1/token"),
        ("userinfo_endpoint", ["https://acme.okta.com/userinfo"]),
        ("authorization_endpoint", "https://acme.okta.com/authorize#frag"),
        ("issuer", OKTA_DEFAULT + "?tenant=acme"),
        ("id_token_signing_alg_values_supported", "RS256"),
        ("id_token_signing_alg_values_supported", []),
        ("scopes_supported", ["openid", 7]),
        ("authorization_response_iss_parameter_supported", "yes"),
    ],
)
def test_parse_metadata_names_an_invalid_field(name, value):
    with pytest.raises(OIDCError) as caught:
        parse_metadata(metadata_doc(**{name: value}))
    assert caught.value.step == "discovery"
    assert f"'{name}'" in str(caught.value)


def test_parse_metadata_accepts_endpoints_with_a_query_string():
    # Azure AD B2C names the user flow in a query parameter of each endpoint.
    endpoint = "https://acme.b2clogin.com/acme/oauth2/v2.0/token?p=b2c_1_signin"
    metadata = parse_metadata(metadata_doc(token_endpoint=endpoint))
    assert metadata.token_endpoint == endpoint


def test_parse_metadata_requires_the_authorization_code_flow():
    with pytest.raises(OIDCError) as caught:
        parse_metadata(metadata_doc(response_types_supported=["id_token"]))
    assert caught.value.step == "discovery"
    assert "code" in str(caught.value)


def test_parse_metadata_refuses_a_document_that_is_not_an_object() -> None:
    with pytest.raises(OIDCError) as caught:
        parse_metadata(["not", "an", "object"])  # type: ignore[arg-type]
    assert caught.value.step == "discovery"


def test_fetch_metadata_fetches_the_well_known_url_and_caches_per_issuer():
    fetch = FakeFetch(
        {
            well_known(OKTA_DEFAULT): metadata_doc(OKTA_DEFAULT),
            well_known(OKTA_ORG): metadata_doc(OKTA_ORG),
        }
    )
    cache = DictCache()
    first = fetch_metadata(fetch, OKTA_DEFAULT, cache=cache)
    again = fetch_metadata(fetch, OKTA_DEFAULT, cache=cache)
    other = fetch_metadata(fetch, OKTA_ORG, cache=cache)
    assert first == again
    assert first.issuer == OKTA_DEFAULT
    assert other.issuer == OKTA_ORG
    assert fetch.calls == [well_known(OKTA_DEFAULT), well_known(OKTA_ORG)]
    assert len(cache.data) == 2


def test_fetch_metadata_without_a_cache_fetches_every_time():
    fetch = FakeFetch({well_known(OKTA_ORG): metadata_doc(OKTA_ORG)})
    fetch_metadata(fetch, OKTA_ORG)
    fetch_metadata(fetch, OKTA_ORG)
    assert len(fetch.calls) == 2


def test_issuer_mismatch_names_both_issuers_and_the_okta_authorization_servers():
    # The org URL was entered; the document belongs to the default server.
    fetch = FakeFetch({well_known(OKTA_ORG): metadata_doc(OKTA_DEFAULT)})
    cache = DictCache()
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, OKTA_ORG, cache=cache)
    message = str(caught.value)
    assert caught.value.step == "issuer_mismatch"
    assert f"'{OKTA_ORG}'" in message
    assert f"'{OKTA_DEFAULT}'" in message
    assert "/oauth2/default" in message
    assert "Dynamic" in message and "Okta URL" in message
    assert cache.data == {}  # a rejected document is never cached


def test_issuer_mismatch_by_a_trailing_slash_says_so():
    issuer = "https://tenant.example-idp.com"
    fetch = FakeFetch({well_known(issuer): metadata_doc(issuer + "/")})
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, issuer)
    assert caught.value.step == "issuer_mismatch"
    assert "trailing slash" in str(caught.value)


def test_issuer_mismatch_for_another_provider_gives_no_okta_advice():
    issuer = "https://sso.example.com/realms/acme"
    fetch = FakeFetch(
        {well_known(issuer): metadata_doc("https://sso.example.com/realms/other")}
    )
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, issuer)
    assert caught.value.step == "issuer_mismatch"
    assert "Okta" not in str(caught.value)


def test_issuer_mismatch_is_reported_before_missing_fields():
    doc = metadata_doc(OKTA_DEFAULT, jwks_uri=REMOVED)
    fetch = FakeFetch({well_known(OKTA_ORG): doc})
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, OKTA_ORG)
    assert caught.value.step == "issuer_mismatch"


def test_fetch_metadata_reports_a_missing_field_of_a_fetched_document():
    fetch = FakeFetch({well_known(OKTA_ORG): metadata_doc(OKTA_ORG, jwks_uri=REMOVED)})
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, OKTA_ORG, cache=DictCache())
    assert caught.value.step == "discovery"
    assert "'jwks_uri'" in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        FakeResponse(404, b"Not found", well_known(OKTA_ORG)),
        FakeResponse(200, b"<html>login</html>", well_known(OKTA_ORG)),
        FakeOutboundError("timeout", "The provider did not answer within 5 seconds."),
    ],
)
def test_fetch_metadata_turns_transport_failures_into_a_discovery_error(answer):
    fetch = FakeFetch({well_known(OKTA_ORG): answer})
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, OKTA_ORG)
    assert caught.value.step == "discovery"
    assert well_known(OKTA_ORG) in str(caught.value)


def test_fetch_metadata_includes_the_outbound_clients_sentence():
    error = FakeOutboundError("policy", "That address is on a private network.")
    fetch = FakeFetch({well_known(OKTA_ORG): error})
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, OKTA_ORG)
    assert "private network" in str(caught.value)


def test_fetch_metadata_lets_programming_errors_propagate():
    fetch = FakeFetch({well_known(OKTA_ORG): RuntimeError("bug")})
    with pytest.raises(RuntimeError):
        fetch_metadata(fetch, OKTA_ORG)


def test_fetch_metadata_refuses_http_endpoints_unless_insecure_is_allowed():
    issuer = "http://127.0.0.1:9000"
    fetch = FakeFetch({well_known(issuer): metadata_doc(issuer)})
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, issuer)
    assert caught.value.step == "issuer_url"
    assert fetch.calls == []
    assert fetch_metadata(fetch, issuer, allow_insecure=True).issuer == issuer


def test_cached_metadata_is_revalidated_under_the_current_setting():
    issuer = "http://127.0.0.1:9000"
    fetch = FakeFetch({well_known(issuer): metadata_doc(issuer)})
    cache = DictCache()
    fetch_metadata(fetch, issuer, cache=cache, allow_insecure=True)
    with pytest.raises(OIDCError) as caught:
        fetch_metadata(fetch, issuer, cache=cache)
    assert caught.value.step == "issuer_url"
