"""The pure provider rules (connections/oidc/providers.py), without a database."""

from __future__ import annotations

import pytest

from connections.oidc.providers import (
    PROFILES,
    claims_with_groups,
    domains_to_verify,
    email_claim_used,
    email_trust_problem,
    entra_tenant,
    identity_subject,
    issuer_problem,
    needs_groups_overage_lookup,
    okta_custom_server,
    profile_for,
    token_problem,
)

TENANT = "3f6a5c1e-0b7d-4c2a-9e8f-1a2b3c4d5e6f"
ENTRA = profile_for("entra")


def test_every_contract_provider_has_a_profile_and_unknown_is_generic_oidc():
    assert set(PROFILES) == {"okta", "entra", "google", "oidc"}
    assert profile_for(None).key == "oidc"
    assert profile_for("saml").key == "oidc"


@pytest.mark.parametrize(
    "issuer",
    [
        f"https://login.microsoftonline.com/{TENANT}/v2.0",
        f"http://127.0.0.1:9000/{TENANT.upper()}/v2.0",
        f"https://contoso.ciamlogin.com/{TENANT}/v2.0/",
    ],
)
def test_entra_tenant_is_read_from_the_path_whatever_the_host(issuer):
    assert entra_tenant(issuer) == TENANT
    assert issuer_problem(ENTRA, issuer) is None


@pytest.mark.parametrize(
    "segment", ["common", "organizations", "consumers", "Common", "{tenantid}"]
)
def test_entra_multi_tenant_issuers_are_refused_with_the_fix(segment):
    problem = issuer_problem(ENTRA, f"https://login.microsoftonline.com/{segment}/v2.0")
    assert problem is not None
    detail, fix = problem
    assert "multi-tenant" in detail
    assert "Directory (tenant) ID" in fix


@pytest.mark.parametrize(
    "issuer",
    [
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0",
        f"https://login.microsoftonline.com/{TENANT}",
        f"https://sts.windows.net/{TENANT}/",
        "https://acme.okta.com",
    ],
)
def test_entra_issuer_must_name_one_tenant_by_id(issuer):
    assert entra_tenant(issuer) is None
    assert issuer_problem(ENTRA, issuer) is not None


def test_other_providers_accept_any_issuer_shape():
    for key in ("okta", "google", "oidc"):
        assert issuer_problem(profile_for(key), "https://x.test/common/v2.0") is None


def test_okta_custom_server_is_the_oauth2_path():
    assert okta_custom_server("https://acme.okta.com/oauth2/default")
    assert okta_custom_server("https://acme.okta.com/oauth2/aus1a2b3c4/")
    assert not okta_custom_server("https://acme.okta.com")
    assert not okta_custom_server("https://acme.okta.com/oauth2/default/v1/keys")


def entra_claims(**changes):
    claims = {"iss": f"https://login.microsoftonline.com/{TENANT}/v2.0"}
    claims |= {"tid": TENANT, "oid": "OID-1", "sub": "pairwise"}
    claims.update(changes)
    return claims


def test_entra_tid_must_equal_the_issuers_tenant():
    issuer = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert token_problem(ENTRA, issuer, entra_claims()) is None
    assert token_problem(ENTRA, issuer, entra_claims(tid=TENANT.upper())) is None
    other = token_problem(ENTRA, issuer, entra_claims(tid="72f988bf-0000"))
    assert other is not None and other.code == "entra_tenant"
    missing = token_problem(ENTRA, issuer, entra_claims(tid=None))
    assert missing is not None and missing.code == "entra_tenant"
    no_oid = token_problem(ENTRA, issuer, {**entra_claims(), "oid": ""})
    assert no_oid is not None and no_oid.code == "entra_oid"
    # Other providers do not read tid.
    assert token_problem(profile_for("okta"), issuer, {"tid": "x"}) is None


def test_identity_key_is_tid_and_oid_for_entra_and_sub_elsewhere():
    claims = entra_claims(oid="ABC")
    assert identity_subject(ENTRA, claims) == f"{TENANT}:abc"
    assert identity_subject(profile_for("okta"), claims) == "pairwise"


def test_entra_reads_the_address_from_email_then_preferred_username_then_upn():
    assert email_claim_used(ENTRA, {"email": "a@x", "upn": "b@x"}, "email") == "email"
    assert email_claim_used(ENTRA, {"preferred_username": "a@x"}, "email") == (
        "preferred_username"
    )
    assert email_claim_used(ENTRA, {"upn": "a@x"}, "email") == "upn"
    # Okta never falls back: its preferred_username is not an address it verified.
    okta = profile_for("okta")
    assert email_claim_used(okta, {"preferred_username": "a@x"}, "email") == "email"


def trust(key, claims, email="ada@acme.test", claim="email", in_email=None):
    return email_trust_problem(
        profile_for(key),
        claims,
        email=email,
        email_claim=claim,
        address_in_email_claim=email if in_email is None else in_email,
    )


def test_email_verified_rules_per_provider():
    for key in ("okta", "oidc", "google"):
        problem = trust(key, {"hd": "acme.test"})
        assert problem is not None and problem.code == "email_verified"
        assert trust(key, {"email_verified": True, "hd": "acme.test"}) is None
        assert trust(key, {"email_verified": "true", "hd": "acme.test"}) is None
    assert trust("entra", {}) is None


def test_email_verified_vouches_for_the_email_claim_only():
    problem = trust(
        "okta", {"email_verified": True}, claim="upn", in_email="other@acme.test"
    )
    assert problem is not None and problem.code == "email_verified"


def test_entra_xms_edov_false_is_a_refusal_and_absent_is_not():
    problem = trust("entra", {"xms_edov": False})
    assert problem is not None and problem.code == "email_edov"
    assert trust("entra", {"xms_edov": True}) is None
    assert trust("entra", {"xms_edov": "1"}) is not None


def test_google_needs_a_hosted_domain_and_names_it_for_verification():
    google = profile_for("google")
    problem = trust("google", {"email_verified": True})
    assert problem is not None and problem.code == "google_hd"
    assert domains_to_verify(google, {"hd": "Acme.Test."}) == ("acme.test",)
    assert domains_to_verify(profile_for("okta"), {"hd": "acme.test"}) == ()


def test_overage_pointer_is_replaced_by_the_groups_graph_gave():
    claims = {
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph"}},
    }
    assert needs_groups_overage_lookup(claims, "groups")
    assert not needs_groups_overage_lookup({"groups": []}, "groups")
    assert not needs_groups_overage_lookup(claims, "roles")
    resolved = claims_with_groups(claims, "groups", ["g1"])
    assert resolved == {"groups": ["g1"]}
