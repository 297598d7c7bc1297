"""The check steps with a fake fetch and resolver: no network, no database."""

from __future__ import annotations

import base64
import json
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest

from connections.checks_steps import (
    CheckInput,
    CheckPolicy,
    ResolveError,
    clock_step,
    run_check,
)
from connections.outbound import Headers, OutboundError, OutboundResponse

ISSUER = "https://acme.okta.example"
SECRET = "fake-secret-value-1234"
DOC: dict[str, Any] = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/oauth2/v1/authorize",
    "token_endpoint": f"{ISSUER}/oauth2/v1/token",
    "jwks_uri": f"{ISSUER}/oauth2/v1/keys",
    "userinfo_endpoint": f"{ISSUER}/oauth2/v1/userinfo",
    "response_types_supported": ["code"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "scopes_supported": ["openid", "email", "profile", "groups"],
    "claims_supported": ["sub", "email", "groups"],
}


def _jwks() -> dict:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}


JWKS = _jwks()


def response(url: str, body, status: int = 200, date: str | None = None):
    headers = {"Content-Type": "application/json"}
    if date is not None:
        headers["Date"] = date
    return OutboundResponse(
        status=status,
        headers=Headers(headers),
        content=json.dumps(body).encode(),
        url=url,
    )


class FakeIdP:
    """Answers by URL; records what was sent, so tests can see the secret's path."""

    def __init__(self, doc=None, token=None, jwks=None, date=None) -> None:
        self.doc = DOC if doc is None else doc
        self.token = token
        self.jwks = JWKS if jwks is None else jwks
        self.date = date or formatdate(usegmt=True)
        self.calls: list[dict] = []

    def __call__(self, url, **kwargs):
        self.calls.append({"url": url, **kwargs})
        if url.endswith("/.well-known/openid-configuration"):
            return response(url, self.doc, date=self.date)
        if url == self.doc.get("jwks_uri"):
            return response(url, self.jwks)
        if url == self.doc.get("token_endpoint"):
            if isinstance(self.token, Exception):
                raise self.token
            return response(url, {"access_token": "x", "token_type": "Bearer"})
        raise AssertionError(f"unexpected fetch {url}")


def public_resolver(host, port, timeout):
    return ["93.184.216.34"]


def inputs(**overrides) -> CheckInput:
    return CheckInput(
        issuer=overrides.pop("issuer", ISSUER),
        client_id=overrides.pop("client_id", "cid"),
        client_secret=overrides.pop("client_secret", SECRET),
        **overrides,
    )


def steps(outcome) -> dict:
    return {s.key: s for s in outcome.steps}


def test_check_input_repr_hides_the_secret():
    assert SECRET not in repr(inputs())


def test_all_steps_pass_against_a_good_provider():
    outcome = run_check(
        inputs(), policy=CheckPolicy(), fetch=FakeIdP(), resolve=public_resolver
    )
    assert outcome.passed
    assert [s.status for s in outcome.steps] == ["passed"] * 8


def test_progress_is_reported_after_each_step():
    seen = []
    run_check(
        inputs(),
        policy=CheckPolicy(),
        fetch=FakeIdP(),
        resolve=public_resolver,
        on_step=lambda done: seen.append(len(done)),
    )
    assert seen == list(range(1, 9))


def test_a_host_resolving_to_a_private_address_fails_the_policy():
    fetch = FakeIdP()
    outcome = run_check(
        inputs(),
        policy=CheckPolicy(),
        fetch=fetch,
        resolve=lambda host, port, timeout: ["10.1.2.3"],
    )
    step = steps(outcome)["url_policy"]
    assert step.status == "failed"
    # Not an oracle for what internal names resolve to (issue 15, item 5).
    assert "10.1.2.3" not in step.detail and "private" not in step.detail
    assert "does not resolve to a public internet address" in step.detail
    assert fetch.calls == []


def test_one_private_address_among_public_ones_is_enough_to_fail():
    outcome = run_check(
        inputs(),
        policy=CheckPolicy(),
        fetch=FakeIdP(),
        resolve=lambda host, port, timeout: ["93.184.216.34", "127.0.0.1"],
    )
    step = steps(outcome)["url_policy"]
    assert step.status == "failed"
    assert "127.0.0.1" not in step.detail and "loopback" not in step.detail


def test_an_address_typed_as_the_host_is_named_with_its_reason():
    outcome = run_check(
        inputs(issuer="https://10.1.2.3"),
        policy=CheckPolicy(),
        fetch=FakeIdP(),
        resolve=public_resolver,
    )
    step = steps(outcome)["url_policy"]
    assert step.status == "failed"
    assert "10.1.2.3 is" in step.detail and "private network" in step.detail


def test_an_endpoint_on_a_metadata_address_fails_step_four_and_gets_no_secret():
    doc = {**DOC, "token_endpoint": "https://169.254.169.254/token"}
    fetch = FakeIdP(doc=doc)
    outcome = run_check(
        inputs(), policy=CheckPolicy(), fetch=fetch, resolve=public_resolver
    )
    result = steps(outcome)
    assert result["url_policy"].status == "passed"
    assert result["endpoints"].status == "failed"
    assert "'token_endpoint'" in result["endpoints"].detail
    assert "link-local" in result["endpoints"].detail
    assert result["client_credentials"].status == "skipped"
    assert all(call["url"] != doc["token_endpoint"] for call in fetch.calls)


def test_dns_failure_is_a_sentence():
    def fail(host, port, timeout):
        raise ResolveError(f"{host} was not found in DNS.")

    outcome = run_check(inputs(), policy=CheckPolicy(), fetch=FakeIdP(), resolve=fail)
    step = steps(outcome)["url_policy"]
    assert step.status == "failed"
    assert "was not found in DNS" in step.detail
    assert "spelling" in step.fix


def test_basic_auth_is_preferred_and_the_secret_goes_only_to_the_token_endpoint():
    fetch = FakeIdP()
    run_check(inputs(), policy=CheckPolicy(), fetch=fetch, resolve=public_resolver)
    with_secret = [c for c in fetch.calls if SECRET in json.dumps(c, default=str)]
    assert [c["url"] for c in with_secret] == [DOC["token_endpoint"]]
    assert with_secret[0]["auth"] == ("cid", quote(SECRET, safe=""))
    assert with_secret[0]["data"] == {"grant_type": "client_credentials"}


def test_only_private_key_jwt_cannot_be_checked_with_a_secret():
    doc = {**DOC, "token_endpoint_auth_methods_supported": ["private_key_jwt"]}
    outcome = run_check(
        inputs(), policy=CheckPolicy(), fetch=FakeIdP(doc=doc), resolve=public_resolver
    )
    step = steps(outcome)["client_credentials"]
    assert step.status == "failed"
    assert "private_key_jwt" in step.detail


def _oauth_error(status: int, body) -> OutboundError:
    answer = response(DOC["token_endpoint"], body, status=status)
    return OutboundError("refused", kind="http", status=status, response=answer)


@pytest.mark.parametrize(
    "error", ["unauthorized_client", "unsupported_grant_type", "invalid_scope"]
)
def test_grant_refusals_after_authentication_count_as_accepted_credentials(error):
    fetch = FakeIdP(token=_oauth_error(400, {"error": error}))
    outcome = run_check(
        inputs(), policy=CheckPolicy(), fetch=fetch, resolve=public_resolver
    )
    assert steps(outcome)["client_credentials"].status == "passed"
    assert outcome.passed


def test_invalid_client_fails_and_a_bare_401_too():
    for token in (
        _oauth_error(400, {"error": "invalid_client"}),
        _oauth_error(401, "Unauthorized"),
    ):
        outcome = run_check(
            inputs(),
            policy=CheckPolicy(),
            fetch=FakeIdP(token=token),
            resolve=public_resolver,
        )
        assert steps(outcome)["client_credentials"].status == "failed"
        assert not outcome.passed


def test_an_unknown_token_error_is_a_warning_not_a_pass():
    fetch = FakeIdP(token=_oauth_error(400, {"error": "invalid_request"}))
    outcome = run_check(
        inputs(), policy=CheckPolicy(), fetch=fetch, resolve=public_resolver
    )
    step = steps(outcome)["client_credentials"]
    assert step.status == "warning"
    assert "test sign-in" in step.fix


def test_a_hostile_error_code_is_not_echoed():
    fetch = FakeIdP(token=_oauth_error(401, {"error": "<script>alert(1)</script>"}))
    outcome = run_check(
        inputs(), policy=CheckPolicy(), fetch=fetch, resolve=public_resolver
    )
    assert "<script>" not in steps(outcome)["client_credentials"].detail


def test_clock_far_off_fails_past_the_leeway():
    date = formatdate(timeval=1_000_000_000 + 300, usegmt=True)
    step = clock_step(date, 1_000_000_000, 1_000_000_000, leeway=60)
    assert step.status == "failed"
    assert "300 seconds ahead of" in step.detail
    assert "NTP" in step.fix


def test_clock_behind_is_reported_as_behind():
    date = formatdate(timeval=1_000_000_000 - 120, usegmt=True)
    step = clock_step(date, 1_000_000_000, 1_000_000_000, leeway=60)
    assert step.status == "failed"
    assert "behind" in step.detail


def test_clock_within_the_leeway_passes():
    date = formatdate(timeval=1_000_000_030, usegmt=True)
    assert clock_step(date, 1_000_000_000, 1_000_000_000, leeway=60).status == (
        "passed"
    )


@pytest.mark.parametrize("header", [None, "", "not a date"])
def test_missing_or_bad_date_header_warns(header):
    assert clock_step(header, 0.0, 0.0, leeway=60).status == "warning"


def test_the_clock_step_uses_the_discovery_date_header():
    late = formatdate(timeval=time.time() - 3600, usegmt=True)
    outcome = run_check(
        inputs(),
        policy=CheckPolicy(),
        fetch=FakeIdP(date=late),
        resolve=public_resolver,
    )
    assert steps(outcome)["clock"].status == "failed"
    assert not outcome.passed  # ID tokens would be refused: no publish
    assert -3602 <= outcome.summary["clock_offset_seconds"] <= -3598


AWKWARD_SECRET = "a+b%2Fc&d=e/f g~SECRET-tail-0123"


@pytest.mark.parametrize(
    "echoed",
    [
        AWKWARD_SECRET,
        quote_plus(AWKWARD_SECRET),
        quote(AWKWARD_SECRET, safe=""),
        unquote_plus(AWKWARD_SECRET),
        unquote(AWKWARD_SECRET),
    ],
)
def test_the_secret_is_redacted_however_the_idp_quotes_it(echoed):
    # Issue 15, item 2: an IdP that form-decodes the secret and quotes it back.
    body = {"error": "invalid_client", "error_description": f"bad secret {echoed}"}
    fetch = FakeIdP(token=_oauth_error(401, body))
    outcome = run_check(
        inputs(client_secret=AWKWARD_SECRET),
        policy=CheckPolicy(),
        fetch=fetch,
        resolve=public_resolver,
    )
    detail = steps(outcome)["client_credentials"].detail
    assert echoed not in detail
    assert "[redacted]" in detail


def test_the_check_form_encodes_the_secret_in_basic_auth_as_a_sign_in_does():
    fetch = FakeIdP()
    run_check(
        inputs(client_secret=AWKWARD_SECRET),
        policy=CheckPolicy(),
        fetch=fetch,
        resolve=public_resolver,
    )
    (token_call,) = [c for c in fetch.calls if c["url"] == DOC["token_endpoint"]]
    assert token_call["auth"] == ("cid", quote(AWKWARD_SECRET, safe=""))


def test_basic_credentials_echoed_in_an_error_are_redacted():
    # From a security review: an IdP or proxy that echoes the Authorization
    # header put the whole "Basic <base64 id:secret>" on the check page.
    basic = base64.b64encode(f"cid:{quote(SECRET, safe='')}".encode()).decode()
    body = {"error": "invalid_client", "error_description": f"got Basic {basic}"}
    outcome = run_check(
        inputs(),
        policy=CheckPolicy(),
        fetch=FakeIdP(token=_oauth_error(401, body)),
        resolve=public_resolver,
    )
    assert basic not in steps(outcome)["client_credentials"].detail


def test_an_html_escaped_secret_is_redacted():
    secret = "a&b<c>SECRET-tail-0123"
    body = {
        "error": "invalid_client",
        "error_description": "bad secret a&amp;b&lt;c&gt;SECRET-tail-0123",
    }
    outcome = run_check(
        inputs(client_secret=secret),
        policy=CheckPolicy(),
        fetch=FakeIdP(token=_oauth_error(401, body)),
        resolve=public_resolver,
    )
    assert "SECRET-tail-0123" not in steps(outcome)["client_credentials"].detail


# ---------------------------------------------------------------- providers

TENANT = "3f6a5c1e-0b7d-4c2a-9e8f-1a2b3c4d5e6f"


@pytest.mark.parametrize("segment", ["common", "organizations", "{tenantid}"])
def test_entra_multi_tenant_issuer_fails_the_first_step_with_the_fix(segment):
    issuer = f"https://login.microsoftonline.com/{segment}/v2.0"
    fake = FakeIdP(doc={**DOC, "issuer": issuer})
    outcome = run_check(
        inputs(issuer=issuer, provider="entra"),
        policy=CheckPolicy(),
        fetch=fake,
        resolve=public_resolver,
    )
    step = steps(outcome)["url_policy"]
    assert step.status == "failed"
    assert "Directory (tenant) ID" in step.fix
    assert not outcome.passed
    assert fake.calls == []  # nothing fetched from a multi-tenant endpoint


def test_entra_tenant_issuer_passes_the_first_step():
    issuer = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    doc = {**DOC, "issuer": issuer}
    outcome = run_check(
        inputs(issuer=issuer, provider="entra"),
        policy=CheckPolicy(),
        fetch=FakeIdP(doc=doc),
        resolve=public_resolver,
    )
    assert steps(outcome)["url_policy"].status == "passed"
    assert outcome.passed


def test_entra_without_a_groups_claim_warns_with_entras_menu_names():
    issuer = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    doc = {
        **DOC,
        "issuer": issuer,
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "claims_supported": ["sub", "email", "preferred_username", "tid"],
    }
    outcome = run_check(
        inputs(issuer=issuer, provider="entra", scopes=("openid", "email")),
        policy=CheckPolicy(),
        fetch=FakeIdP(doc=doc),
        resolve=public_resolver,
    )
    step = steps(outcome)["scopes_claims"]
    assert step.status == "warning"
    assert "Token configuration > Add groups claim" in step.fix
    assert "Okta" not in step.fix


OKTA_CUSTOM = "https://acme.okta.example/oauth2/default"
CUSTOM_DOC = {
    **DOC,
    "issuer": OKTA_CUSTOM,
    "scopes_supported": ["openid", "email", "profile"],
    "claims_supported": ["sub", "email", "name"],
}


def test_okta_custom_server_without_a_groups_claim_fails_with_the_fix():
    outcome = run_check(
        inputs(issuer=OKTA_CUSTOM, provider="okta", okta=True),
        policy=CheckPolicy(),
        fetch=FakeIdP(doc=CUSTOM_DOC),
        resolve=public_resolver,
    )
    step = steps(outcome)["scopes_claims"]
    assert step.status == "failed"
    assert "custom authorization server" in step.detail
    assert "Authorization Servers > (this server) > Claims > Add Claim" in step.fix
    assert not outcome.passed


def test_okta_custom_server_with_a_groups_claim_passes():
    doc = {**CUSTOM_DOC, "claims_supported": ["sub", "email", "groups"]}
    outcome = run_check(
        inputs(
            issuer=OKTA_CUSTOM,
            provider="okta",
            okta=True,
            scopes=("openid", "email", "profile"),
        ),
        policy=CheckPolicy(),
        fetch=FakeIdP(doc=doc),
        resolve=public_resolver,
    )
    assert steps(outcome)["scopes_claims"].status == "passed"
    assert outcome.passed


def test_okta_org_server_without_a_groups_claim_only_warns():
    doc = {**CUSTOM_DOC, "issuer": ISSUER}
    outcome = run_check(
        inputs(provider="okta", okta=True),
        policy=CheckPolicy(),
        fetch=FakeIdP(doc=doc),
        resolve=public_resolver,
    )
    assert steps(outcome)["scopes_claims"].status == "warning"
    assert outcome.passed


def test_google_warns_that_the_hosted_domain_is_checked_at_each_sign_in():
    doc = {
        **DOC,
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "email", "email_verified", "hd"],
    }
    outcome = run_check(
        inputs(provider="google", scopes=("openid", "email", "profile")),
        policy=CheckPolicy(),
        fetch=FakeIdP(doc=doc),
        resolve=public_resolver,
    )
    step = steps(outcome)["scopes_claims"]
    assert step.status == "warning"
    assert "'hd'" in step.detail and "consumer Google accounts" in step.detail
    assert "OAuth consent screen" in step.fix and "'Internal'" in step.fix
    assert "groups" not in step.fix
    assert outcome.passed  # a warning: it cannot be known before a sign-in


def test_a_jwks_without_a_key_for_the_advertised_algorithm_fails():
    doc = {**DOC, "id_token_signing_alg_values_supported": ["ES256"]}
    outcome = run_check(
        inputs(), policy=CheckPolicy(), fetch=FakeIdP(doc=doc), resolve=public_resolver
    )
    step = steps(outcome)["jwks"]
    assert step.status == "failed"
    assert "ES256" in step.detail
    assert not outcome.passed


@pytest.mark.parametrize(
    ("provider", "words"),
    [
        ("entra", "Certificates & secrets"),
        ("google", "APIs & Services > Credentials"),
        ("okta", "General > Client Credentials"),
    ],
)
def test_rejected_credentials_fix_uses_the_providers_menu_names(provider, words):
    rejected = _oauth_error(401, {"error": "invalid_client"})
    issuer = ISSUER
    if provider == "entra":
        issuer = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    outcome = run_check(
        inputs(issuer=issuer, provider=provider, scopes=("openid", "email")),
        policy=CheckPolicy(),
        fetch=FakeIdP(token=rejected, doc={**DOC, "issuer": issuer}),
        resolve=public_resolver,
    )
    step = steps(outcome)["client_credentials"]
    assert step.status == "failed"
    assert words in step.fix
