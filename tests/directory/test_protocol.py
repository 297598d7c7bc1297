"""directory.scim.protocol: pure protocol code, without a database."""

from __future__ import annotations

import pytest
from scim2_models import Group

from directory.scim.protocol import (
    GROUP_FILTER_ATTRS,
    USER_FILTER_ATTRS,
    ScimError,
    ScimUserModel,
    filter_terms,
    group_from_payload,
    json_from_body,
    page_params,
    patch_apply,
    patch_from_payload,
)


@pytest.mark.parametrize(
    "text,expected",
    [
        ('userName eq "Ada@Example.com"', {"userName": "Ada@Example.com"}),
        ('USERNAME eq "a@b.com"', {"userName": "a@b.com"}),
        (
            'externalId eq "00u1" and userName eq "a@b.com"',
            {"externalId": "00u1", "userName": "a@b.com"},
        ),
        ("", {}),
        (None, {}),
    ],
)
def test_user_filters_become_equality_terms(text, expected):
    assert filter_terms(text, ScimUserModel, USER_FILTER_ATTRS) == expected


def test_contradictory_terms_match_nothing():
    terms = filter_terms(
        'userName eq "a@b.com" and userName eq "c@d.com"',
        ScimUserModel,
        USER_FILTER_ATTRS,
    )
    assert terms["userName"] == "\x00"


@pytest.mark.parametrize(
    "text",
    [
        'userName sw "a"',
        'userName eq "a" or externalId eq "b"',
        'not (userName eq "a")',
        "userName pr",
        'name.givenName eq "a"',
        'displayName eq "x"',
        "userName eq 5",
        "((((",
        "x" * 2000,
    ],
)
def test_other_filters_are_invalid_filter_errors(text):
    with pytest.raises(ScimError) as refused:
        filter_terms(text, ScimUserModel, USER_FILTER_ATTRS)
    assert (refused.value.status, refused.value.scim_type) == (400, "invalidFilter")


def test_group_filters_take_display_name():
    assert filter_terms('displayName eq "Eng"', Group, GROUP_FILTER_ATTRS) == {
        "displayName": "Eng"
    }


def test_entras_remove_members_with_a_value_removes_only_those_listed():
    group = group_from_payload(
        {
            "displayName": "Eng",
            "members": [{"value": "a"}, {"value": "b"}, {"value": "c"}],
        }
    )
    patch = patch_from_payload(
        {
            "Operations": [
                {
                    "op": "Remove",
                    "path": "members",
                    "value": [{"value": "a"}, {"value": "c"}],
                }
            ]
        },
        Group,
    )

    patched = patch_apply(patch, group)

    assert [m.value for m in patched.members] == ["b"]
    assert [m.value for m in group.members] == ["a", "b", "c"]


def test_a_remove_of_members_naming_a_quote_is_refused():
    with pytest.raises(ScimError):
        patch_from_payload(
            {
                "Operations": [
                    {"op": "Remove", "path": "members", "value": [{"value": 'a"]'}]}
                ]
            },
            Group,
        )


@pytest.mark.parametrize(
    "start,count,expected",
    [
        (None, None, (1, 100)),
        ("0", "5", (1, 5)),
        ("3", "-1", (3, 0)),
        ("1", "100000", (1, 200)),
    ],
)
def test_paging_follows_rfc_7644(start, count, expected):
    page = page_params(start, count)
    assert (page.start_index, page.count) == expected


@pytest.mark.parametrize("body", [b"", b"[]", b"nul", b"\xff", b"[" * 50000])
def test_only_a_json_object_is_a_body(body):
    with pytest.raises(ScimError) as refused:
        json_from_body(body)
    assert refused.value.scim_type == "invalidSyntax"
