"""Pure tests for rolemapping.provisioning: no database.

Outcomes are asserted by ``Decision.code``; the sentences in ``reason`` are
for people, and only the advice that matters most is pinned down here.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from rolemapping.provisioning import (
    ROLE_RANK,
    Decision,
    ProvisioningSettings,
    groups_from_claims,
    roles_from_claims,
)

OPEN = ProvisioningSettings(default_role="viewer", only_mapped_groups=False)
NO_DEFAULT = ProvisioningSettings(default_role=None, only_mapped_groups=False)
RESTRICTED = ProvisioningSettings(default_role="viewer", only_mapped_groups=True)

MAPPINGS = {
    "Engineering": "member",
    "Admins": "admin",
    "Auditors": "viewer",
    "Platform": "admin",
}


def decide(
    groups: Any, settings: ProvisioningSettings = OPEN, **extra: Any
) -> Decision:
    claims = {"sub": "u1", "email": "a@acme.example", "groups": groups, **extra}
    return roles_from_claims(claims, MAPPINGS, settings)


def test_role_rank_never_includes_owner() -> None:
    assert "owner" not in ROLE_RANK
    assert ROLE_RANK["admin"] > ROLE_RANK["member"] > ROLE_RANK["viewer"]


def test_missing_claim_gives_default_role_with_missing_status() -> None:
    decision = roles_from_claims({"sub": "u1"}, MAPPINGS, OPEN)
    assert decision.allowed
    assert decision.role == "viewer"
    assert decision.groups == ()
    assert decision.groups_claim_status == "missing"
    assert decision.code == "default_role_no_claim"


def test_null_claim_counts_as_missing() -> None:
    assert groups_from_claims({"groups": None}, "groups", 10) == ((), "missing")


def test_empty_list_is_present_with_no_groups() -> None:
    decision = decide([])
    assert decision.groups_claim_status == "present"
    assert decision.role == "viewer"
    assert decision.code == "default_role"


def test_one_matching_group_grants_its_role() -> None:
    decision = decide(["Sales", "Engineering"])
    assert decision.allowed
    assert decision.role == "member"
    assert decision.matched_groups == ("Engineering",)
    assert decision.groups == ("Sales", "Engineering")
    assert decision.code == "mapped_group"
    assert '"Engineering"' in decision.reason
    assert decision.groups_claim_status == "present"


def test_highest_ranked_match_wins_whatever_the_order() -> None:
    for groups in (
        ["Auditors", "Engineering", "Admins"],
        ["Admins", "Auditors", "Engineering"],
        ["Engineering", "Admins", "Auditors"],
    ):
        decision = decide(groups)
        assert decision.role == "admin"
        assert set(decision.matched_groups) == {"Auditors", "Engineering", "Admins"}
        assert decision.code == "mapped_group"
        assert '"Admins"' in decision.reason


def test_matched_groups_keep_claim_order() -> None:
    decision = decide(["Engineering", "Sales", "Auditors"])
    assert decision.matched_groups == ("Engineering", "Auditors")
    assert decision.role == "member"


def test_tie_between_same_rank_groups_names_the_smallest_name() -> None:
    first = decide(["Platform", "Admins"])
    second = decide(["Admins", "Platform"])
    assert first.role == second.role == "admin"
    assert first.reason == second.reason
    assert '"Admins"' in first.reason and '"Platform"' not in first.reason


def test_default_role_when_no_group_matches() -> None:
    decision = decide(["Sales"], ProvisioningSettings("member", False))
    assert decision.allowed
    assert decision.role == "member"
    assert decision.matched_groups == ()
    assert decision.code == "default_role"


def test_no_default_and_no_match_is_refused() -> None:
    decision = decide(["Sales"], NO_DEFAULT)
    assert not decision.allowed
    assert decision.role is None
    assert decision.code == "no_default_role"


def test_restriction_on_refuses_unmapped_user_even_with_a_default() -> None:
    decision = decide(["Sales"], RESTRICTED)
    assert not decision.allowed
    assert decision.role is None
    assert decision.code == "no_mapped_group"


def test_restriction_on_still_admits_mapped_groups() -> None:
    decision = decide(["Engineering"], RESTRICTED)
    assert decision.allowed
    assert decision.role == "member"


def test_restriction_on_with_missing_claim_says_the_claim_is_missing() -> None:
    decision = roles_from_claims({"sub": "u1"}, MAPPINGS, RESTRICTED)
    assert not decision.allowed
    assert decision.groups_claim_status == "missing"
    assert decision.code == "groups_claim_missing"


def test_restriction_off_admits_unmapped_user_with_default() -> None:
    decision = decide(["Sales"], ProvisioningSettings("viewer", False))
    assert decision.allowed
    assert decision.role == "viewer"


def test_owner_mapping_is_never_granted() -> None:
    mappings = {"Founders": "owner", "Engineering": "member"}
    decision = roles_from_claims({"groups": ["Founders"]}, mappings, NO_DEFAULT)
    assert not decision.allowed
    assert decision.role is None
    assert decision.matched_groups == ()

    both = roles_from_claims(
        {"groups": ["Founders", "Engineering"]}, mappings, NO_DEFAULT
    )
    assert both.role == "member"
    assert both.matched_groups == ("Engineering",)


def test_owner_default_role_is_never_granted() -> None:
    settings = ProvisioningSettings(default_role="owner", only_mapped_groups=False)
    decision = decide(["Sales"], settings)
    assert not decision.allowed
    assert decision.role is None


def test_unknown_role_slug_is_ignored() -> None:
    mappings = {"Ops": "superuser", "Engineering": "member"}
    decision = roles_from_claims({"groups": ["Ops", "Engineering"]}, mappings, OPEN)
    assert decision.role == "member"
    assert decision.matched_groups == ("Engineering",)

    alone = roles_from_claims({"groups": ["Ops"]}, mappings, OPEN)
    assert alone.role == "viewer"
    assert alone.code == "default_role"


def test_entra_claim_names_overage_is_refused() -> None:
    claims = {
        "sub": "u1",
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.example/x"}},
    }
    decision = roles_from_claims(claims, MAPPINGS, OPEN)
    assert not decision.allowed
    assert decision.groups_claim_status == "overage"
    assert decision.code == "groups_overage"


def test_the_overage_refusal_tells_the_idp_admin_what_to_change() -> None:
    decision = roles_from_claims({"hasgroups": True}, MAPPINGS, OPEN)
    assert "Entra ID group overage" in decision.reason
    assert '"Groups assigned to the application"' in decision.reason


def test_entra_claim_names_for_another_claim_is_not_overage() -> None:
    claims = {"groups": ["Engineering"], "_claim_names": {"roles": "src1"}}
    assert groups_from_claims(claims, "groups", 10) == (("Engineering",), "present")


def test_entra_hasgroups_is_overage() -> None:
    decision = roles_from_claims({"sub": "u1", "hasgroups": True}, MAPPINGS, OPEN)
    assert not decision.allowed
    assert decision.groups_claim_status == "overage"


def test_entra_claim_sources_without_groups_is_overage() -> None:
    claims = {"_claim_sources": {"src1": {"endpoint": "https://graph.example/x"}}}
    assert groups_from_claims(claims, "groups", 10) == ((), "overage")


def test_hasgroups_does_not_affect_a_differently_named_claim() -> None:
    claims = {"hasgroups": True, "roles": ["Engineering"]}
    assert groups_from_claims(claims, "roles", 10) == (("Engineering",), "present")


def test_custom_groups_claim_name_is_read() -> None:
    settings = ProvisioningSettings("viewer", False, groups_claim="okta_groups")
    decision = roles_from_claims(
        {"groups": ["Admins"], "okta_groups": ["Engineering"]}, MAPPINGS, settings
    )
    assert decision.role == "member"


def test_single_string_claim_is_one_group() -> None:
    assert groups_from_claims({"groups": "Admins"}, "groups", 10) == (
        ("Admins",),
        "present",
    )
    assert decide("Admins").role == "admin"


def test_empty_string_claim_is_no_groups() -> None:
    assert groups_from_claims({"groups": ""}, "groups", 10) == ((), "present")


@pytest.mark.parametrize("value", [{"Admins": True}, 42, True, 1.5])
def test_non_list_claim_is_invalid_and_refused(value: Any) -> None:
    decision = decide(value)
    assert not decision.allowed
    assert decision.groups_claim_status == "invalid"
    assert decision.groups == ()
    assert decision.code == "groups_claim_invalid"


def test_non_string_items_and_empty_strings_are_ignored() -> None:
    groups, status = groups_from_claims(
        {"groups": ["", 7, None, {"x": 1}, ["Admins"], "Engineering"]}, "groups", 10
    )
    assert groups == ("Engineering",)
    assert status == "present"


def test_duplicates_are_removed_keeping_first_position() -> None:
    groups, _ = groups_from_claims({"groups": ["B", "A", "B", "C", "A"]}, "groups", 10)
    assert groups == ("B", "A", "C")


def test_matching_is_case_sensitive_and_exact() -> None:
    for near_miss in ("admins", "ADMINS", "Admins ", " Admins", "Admins\u200b"):
        decision = decide([near_miss], NO_DEFAULT)
        assert not decision.allowed, near_miss
        assert decision.matched_groups == ()


def test_more_groups_than_the_cap_is_refused_as_overage() -> None:
    settings = ProvisioningSettings("viewer", False, max_groups=3)
    decision = decide(["g1", "g2", "g3", "Admins"], settings)
    assert not decision.allowed
    assert decision.groups_claim_status == "overage"
    assert decision.groups == ("g1", "g2", "g3")
    assert decision.code == "groups_too_many"
    assert "3" in decision.reason


def test_duplicates_do_not_count_towards_the_cap() -> None:
    groups, status = groups_from_claims(
        {"groups": ["g1", "g1", "g2", "g2", "g3"]}, "groups", 3
    )
    assert groups == ("g1", "g2", "g3")
    assert status == "present"


def _five_thousand_groups_with_mapping_last() -> tuple[dict[str, Any], dict[str, str]]:
    groups = [f"team-{i}" for i in range(4_999)] + ["Admins"]
    mappings = {f"other-{i}": "member" for i in range(500)} | {"Admins": "admin"}
    return {"sub": "u1", "groups": groups}, mappings


def _best_time(fn: Any) -> float:
    # Best of a few runs, so a busy CI machine does not make the test flaky.
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return min(timings)


def test_five_thousand_groups_under_default_cap_are_refused_quickly() -> None:
    claims, mappings = _five_thousand_groups_with_mapping_last()
    decision = roles_from_claims(claims, mappings, OPEN)
    assert not decision.allowed
    assert decision.groups_claim_status == "overage"
    assert len(decision.groups) == 1000
    assert _best_time(lambda: roles_from_claims(claims, mappings, OPEN)) < 0.05


def test_five_thousand_groups_with_raised_cap_find_the_last_group_quickly() -> None:
    claims, mappings = _five_thousand_groups_with_mapping_last()
    settings = ProvisioningSettings("viewer", False, max_groups=10_000)
    decision = roles_from_claims(claims, mappings, settings)
    assert decision.allowed
    assert decision.role == "admin"
    assert decision.matched_groups == ("Admins",)
    assert len(decision.groups) == 5_000
    assert _best_time(lambda: roles_from_claims(claims, mappings, settings)) < 0.05


def test_settings_reject_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="max_groups"):
        ProvisioningSettings("viewer", False, max_groups=0)
    with pytest.raises(ValueError, match="groups_claim"):
        ProvisioningSettings("viewer", False, groups_claim="")
