"""The connection check against the real OpenID Provider, one test per failure."""

from __future__ import annotations

import time

import pytest

from connections.models import ConnectionCheck
from organizations.models import AuditEvent
from tests.connections.conftest import (
    REDIRECT_URI,
    SECRET,
    make_connection,
    steps_by_key,
)
from tests.fixtures.idp import DISCOVERY_SUFFIX, PATH_ISSUER_SUFFIX

PATH_DISCOVERY = PATH_ISSUER_SUFFIX + DISCOVERY_SUFFIX

STEP_KEYS = [
    "url_policy",
    "discovery",
    "issuer",
    "endpoints",
    "jwks",
    "client_credentials",
    "scopes_claims",
    "clock",
]


def test_a_correct_configuration_passes_all_eight_steps(
    idp, owner_membership, run_check
):
    connection = make_connection(owner_membership, idp.issuer)
    check = run_check(owner_membership, connection)
    assert check.status == ConnectionCheck.Status.PASSED
    assert [s["key"] for s in check.steps] == STEP_KEYS
    assert {s["status"] for s in check.steps} == {"passed"}, check.steps
    assert all(s["name"] and s["detail"] for s in check.steps)
    assert check.config_id == connection.draft_id
    assert check.fingerprint == connection.draft.fingerprint
    assert check.started_at and check.finished_at
    assert check.result["token_endpoint_auth_method"] == "client_secret_basic"
    assert set(check.result["signing_algs"]) == {"RS256", "ES256"}
    assert abs(check.result["clock_offset_seconds"]) <= 2
    assert check.result["backchannel_logout"] == "with_sid"
    assert AuditEvent.objects.filter(
        action="connection.check_finished", details__status="passed"
    ).exists()


def test_a_custom_authorization_server_issuer_passes(idp, owner_membership, run_check):
    connection = make_connection(owner_membership, idp.path_issuer)
    assert run_check(owner_membership, connection).status == "passed"


def test_a_pasted_discovery_url_is_stored_as_the_issuer(
    idp, owner_membership, run_check
):
    connection = make_connection(owner_membership, idp.issuer + DISCOVERY_SUFFIX)
    assert connection.draft.issuer_url == idp.issuer
    assert run_check(owner_membership, connection).status == "passed"


def test_wrong_issuer_names_both_values_and_the_okta_fix(
    idp, owner_membership, run_check
):
    # Like Okta's "Dynamic" issuer: /oauth2/default's document reports another.
    idp.set_fault(idp.path_issuer + DISCOVERY_SUFFIX, 200, body=idp.metadata)
    connection = make_connection(owner_membership, idp.path_issuer)
    check = run_check(owner_membership, connection)
    steps = steps_by_key(check)
    assert check.status == "failed"
    assert steps["issuer"]["status"] == "failed"
    assert f"'{idp.issuer}'" in steps["issuer"]["detail"]
    assert f"'{idp.path_issuer}'" in steps["issuer"]["detail"]
    assert "/oauth2/default" in steps["issuer"]["fix"]
    assert "Dynamic" in steps["issuer"]["fix"]
    # The secret is not sent to an IdP whose issuer does not match.
    assert steps["client_credentials"]["status"] == "skipped"
    assert idp.count(idp.metadata["token_endpoint"]) == 0


def test_okta_provider_gets_okta_issuer_hints_on_any_host(
    idp, owner_membership, run_check
):
    idp.set_fault(
        DISCOVERY_SUFFIX, 200, body={**idp.metadata, "issuer": idp.issuer + "/other"}
    )
    connection = make_connection(owner_membership, idp.issuer, provider="okta")
    fix = steps_by_key(run_check(owner_membership, connection))["issuer"]["fix"]
    assert "Okta URL" in fix


def test_wrong_secret_fails_the_client_credentials_step(
    idp, owner_membership, run_check
):
    connection = make_connection(owner_membership, idp.issuer, secret="not-the-secret")
    check = run_check(owner_membership, connection)
    step = steps_by_key(check)["client_credentials"]
    assert check.status == "failed"
    assert step["status"] == "failed"
    assert "rejected the client ID or the client secret" in step["detail"]
    assert "invalid_client" in step["detail"]
    assert "Client Credentials" in step["fix"]
    # Everything else about the IdP was fine.
    others = [s for s in check.steps if s["key"] != "client_credentials"]
    assert {s["status"] for s in others} == {"passed"}


def test_wrong_client_id_fails_the_client_credentials_step(
    idp, owner_membership, run_check
):
    connection = make_connection(owner_membership, idp.issuer, client_id="nobody")
    step = steps_by_key(run_check(owner_membership, connection))["client_credentials"]
    assert step["status"] == "failed"
    assert "invalid_client" in step["detail"]


def test_a_secret_echoed_by_the_idp_is_redacted(idp, owner_membership, run_check):
    idp.set_fault(
        idp.metadata["token_endpoint"],
        401,
        body={"error": "invalid_client", "error_description": f"bad {SECRET}!"},
    )
    connection = make_connection(owner_membership, idp.issuer)
    check = run_check(owner_membership, connection)
    step = steps_by_key(check)["client_credentials"]
    assert step["status"] == "failed"
    assert "[redacted]" in step["detail"]
    assert SECRET not in str(check.steps) + str(check.result)


def test_unauthorized_client_means_the_credentials_were_accepted(
    idp, owner_membership, run_check
):
    # What Okta answers for a web app without the client-credentials grant.
    idp.set_fault(
        idp.metadata["token_endpoint"],
        400,
        body={
            "error": "unauthorized_client",
            "error_description": "The client is not authorized to use the "
            "provided grant type.",
        },
    )
    connection = make_connection(owner_membership, idp.issuer)
    check = run_check(owner_membership, connection)
    step = steps_by_key(check)["client_credentials"]
    assert check.status == "passed"
    assert step["status"] == "passed"
    assert "accepted the client ID and secret" in step["detail"]
    assert "unauthorized_client" in step["detail"]


def test_discovery_404_says_where_the_document_should_be(
    idp, owner_membership, run_check
):
    idp.set_fault(DISCOVERY_SUFFIX, 404, body={"error": "not_found"})
    connection = make_connection(owner_membership, idp.issuer)
    check = run_check(owner_membership, connection)
    steps = steps_by_key(check)
    assert check.status == "failed"
    assert steps["url_policy"]["status"] == "passed"
    assert steps["discovery"]["status"] == "failed"
    assert "HTTP 404" in steps["discovery"]["detail"]
    assert "/oauth2/default" in steps["discovery"]["fix"]
    for key in ("issuer", "endpoints", "jwks", "client_credentials", "scopes_claims"):
        assert steps[key]["status"] == "skipped"
    # The 404 still carried a Date header, so the clock was compared.
    assert steps["clock"]["status"] == "passed"


def test_non_json_discovery_is_reported_as_a_web_page(idp, owner_membership, run_check):
    idp.set_fault(
        DISCOVERY_SUFFIX,
        200,
        body="<html><body>Welcome to Acme</body></html>",
        content_type="text/html",
    )
    connection = make_connection(owner_membership, idp.issuer)
    step = steps_by_key(run_check(owner_membership, connection))["discovery"]
    assert step["status"] == "failed"
    assert "not valid JSON" in step["detail"]
    assert "web page" in step["fix"]


def test_discovery_without_required_fields_names_the_missing_one(
    idp, owner_membership, run_check
):
    doc = {k: v for k, v in idp.metadata.items() if k != "jwks_uri"}
    idp.set_fault(DISCOVERY_SUFFIX, 200, body=doc)
    connection = make_connection(owner_membership, idp.issuer)
    step = steps_by_key(run_check(owner_membership, connection))["discovery"]
    assert step["status"] == "failed"
    assert "'jwks_uri'" in step["detail"]


def test_unreachable_host_fails_discovery(closed_port, owner_membership, run_check):
    connection = make_connection(owner_membership, f"http://127.0.0.1:{closed_port}")
    check = run_check(owner_membership, connection)
    steps = steps_by_key(check)
    assert check.status == "failed"
    assert steps["discovery"]["status"] == "failed"
    assert "Could not connect" in steps["discovery"]["detail"]
    assert steps["clock"]["status"] == "skipped"


def test_a_hung_endpoint_fails_within_the_timeout(
    idp, owner_membership, run_check, settings
):
    settings.OUTBOUND_CONNECT_TIMEOUT = 0.5
    settings.OUTBOUND_READ_TIMEOUT = 0.5
    idp.set_fault(DISCOVERY_SUFFIX, 200, body=idp.metadata, delay_ms=5000)
    connection = make_connection(owner_membership, idp.issuer)
    started = time.monotonic()
    check = run_check(owner_membership, connection)
    elapsed = time.monotonic() - started
    step = steps_by_key(check)["discovery"]
    assert check.status == "failed"
    assert step["status"] == "failed"
    assert "did not" in step["detail"] and "seconds" in step["detail"]
    assert elapsed < 3, elapsed


def test_a_hung_token_endpoint_fails_only_that_step(
    idp, owner_membership, run_check, settings
):
    settings.OUTBOUND_CONNECT_TIMEOUT = 0.5
    settings.OUTBOUND_READ_TIMEOUT = 0.5
    idp.set_fault(idp.metadata["token_endpoint"], 200, delay_ms=5000)
    connection = make_connection(owner_membership, idp.issuer)
    check = run_check(owner_membership, connection)
    steps = steps_by_key(check)
    assert steps["client_credentials"]["status"] == "failed"
    assert "could not be reached" in steps["client_credentials"]["detail"]
    assert steps["jwks"]["status"] == "passed"


def test_a_redirect_is_not_followed(idp, owner_membership, run_check):
    idp.set_fault(DISCOVERY_SUFFIX, 302, body="")
    connection = make_connection(owner_membership, idp.issuer)
    step = steps_by_key(run_check(owner_membership, connection))["discovery"]
    assert step["status"] == "failed"
    assert "redirect" in step["detail"]
    assert "redirects are not followed" in step["fix"]


def test_a_private_address_fails_the_url_policy_when_it_is_on(
    idp, owner_membership, run_check, settings
):
    settings.SSO_ALLOW_PRIVATE_NETWORKS = False
    connection = make_connection(owner_membership, idp.issuer)
    idp.reset_counts()
    check = run_check(owner_membership, connection)
    steps = steps_by_key(check)
    assert check.status == "failed"
    assert steps["url_policy"]["status"] == "failed"
    assert "loopback" in steps["url_policy"]["detail"]
    assert "SSO_ALLOW_PRIVATE_NETWORKS" in steps["url_policy"]["fix"]
    assert {steps[k]["status"] for k in STEP_KEYS[1:]} == {"skipped"}
    assert idp.request_counts() == {}


def test_an_http_issuer_fails_the_url_policy_without_the_insecure_setting(
    idp, owner_membership, run_check, settings
):
    connection = make_connection(owner_membership, idp.issuer)
    settings.SSO_ALLOW_INSECURE_ISSUERS = False
    step = steps_by_key(run_check(owner_membership, connection))["url_policy"]
    assert step["status"] == "failed"
    assert "http://" in step["detail"]


def test_missing_groups_claim_warns_with_the_okta_filter(
    idp, owner_membership, run_check
):
    doc = {
        **idp.metadata,
        "claims_supported": ["sub", "email", "name"],
        "scopes_supported": ["openid", "email", "profile"],
    }
    idp.set_fault(DISCOVERY_SUFFIX, 200, body=doc)
    connection = make_connection(
        owner_membership, idp.issuer, scopes="openid email profile"
    )
    check = run_check(owner_membership, connection)
    step = steps_by_key(check)["scopes_claims"]
    assert step["status"] == "warning"
    assert "'groups'" in step["detail"]
    assert "Matches regex" in step["fix"] and "'.*'" in step["fix"]
    # A warning does not fail the check.
    assert check.status == "passed"


def test_unsupported_scope_warns(idp, owner_membership, run_check):
    connection = make_connection(
        owner_membership, idp.issuer, scopes="openid email groups okta.users.read"
    )
    step = steps_by_key(run_check(owner_membership, connection))["scopes_claims"]
    assert step["status"] == "warning"
    assert "okta.users.read" in step["detail"]


def test_a_key_set_without_usable_keys_fails_step_five(
    idp, owner_membership, run_check
):
    idp.set_fault(idp.metadata["jwks_uri"], 200, body={"keys": []})
    connection = make_connection(owner_membership, idp.issuer)
    step = steps_by_key(run_check(owner_membership, connection))["jwks"]
    assert step["status"] == "failed"
    assert "no keys" in step["detail"]


@pytest.mark.parametrize("algs", [["HS256"], ["none"]])
def test_shared_secret_only_signing_fails_step_five(
    idp, owner_membership, run_check, algs
):
    idp.set_fault(
        DISCOVERY_SUFFIX,
        200,
        body={**idp.metadata, "id_token_signing_alg_values_supported": algs},
    )
    connection = make_connection(owner_membership, idp.issuer)
    step = steps_by_key(run_check(owner_membership, connection))["jwks"]
    assert step["status"] == "failed"
    assert "RS256" in step["fix"]


def test_client_secret_post_is_used_when_basic_is_not_offered(
    idp, owner_membership, run_check
):
    idp.add_client(
        "post-app",
        SECRET,
        ["http://testserver/sso/callback/"],
        token_endpoint_auth_method="client_secret_post",
    )
    doc = {
        **idp.metadata,
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }
    idp.set_fault(DISCOVERY_SUFFIX, 200, body=doc)
    connection = make_connection(owner_membership, idp.issuer, client_id="post-app")
    check = run_check(owner_membership, connection)
    assert steps_by_key(check)["client_credentials"]["status"] == "passed"
    assert check.result["token_endpoint_auth_method"] == "client_secret_post"


def test_a_secret_with_form_characters_passes_the_check_at_a_real_idp(
    idp, owner_membership, run_check
):
    # The check used to send the secret raw in Basic auth while a sign-in
    # form-encodes it: a secret with + % & = / passed one and failed the other.
    awkward = "a+b%2Fc&d=e/f~SECRET-tail-0123456789"
    idp.add_client("awkward-app", awkward, [REDIRECT_URI])
    connection = make_connection(
        owner_membership, idp.issuer, client_id="awkward-app", secret=awkward
    )
    check = run_check(owner_membership, connection)
    steps = {s["key"]: s for s in check.steps}
    assert steps["client_credentials"]["status"] == "passed", steps


def test_an_entra_shaped_tenant_issuer_passes_every_step(
    idp, owner_membership, run_check
):
    connection = make_connection(
        owner_membership,
        idp.entra_issuer,
        provider="entra",
        scopes="openid email profile",
    )
    check = run_check(owner_membership, connection)
    assert check.status == "passed", check.steps
    assert {s["status"] for s in check.steps} == {"passed"}, check.steps


def test_a_google_shaped_client_passes_with_the_hosted_domain_warning(
    idp, owner_membership, run_check
):
    connection = make_connection(
        owner_membership, idp.issuer, provider="google", scopes="openid email profile"
    )
    check = run_check(owner_membership, connection)
    assert check.status == "passed", check.steps
    step = steps_by_key(check)["scopes_claims"]
    assert step["status"] == "warning"
    assert "'hd'" in step["detail"]


def test_an_okta_custom_server_without_a_groups_claim_blocks_publishing(
    idp, owner_membership, run_check
):
    doc = {
        **idp.metadata,
        "issuer": idp.path_issuer,
        "claims_supported": ["sub", "email", "name"],
        "scopes_supported": ["openid", "email", "profile"],
    }
    idp.set_fault(PATH_DISCOVERY, 200, body=doc)
    connection = make_connection(
        owner_membership,
        idp.path_issuer,
        provider="okta",
        scopes="openid email profile",
    )
    check = run_check(owner_membership, connection)
    step = steps_by_key(check)["scopes_claims"]
    assert step["status"] == "failed"
    assert "Add Claim" in step["fix"]
    assert check.status == "failed"
