"""Refusals carry a stable code beside their sentence; login paths are checked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from organizations.errors import PermissionDenied, ServiceError
from organizations.services import (
    login_path_validate,
    organization_create,
    require_perm,
    require_support,
)
from tests.factories import make_member, make_user


def test_a_refusal_is_its_sentence_and_carries_its_code():
    refusal = ServiceError("Choose another name.", code="name_taken")
    assert str(refusal) == "Choose another name."
    assert refusal.code == "name_taken"


def test_refusals_without_a_code_fall_back_to_a_generic_one():
    assert ServiceError("No.").code == "refused"
    assert PermissionDenied("No.").code == "permission_denied"
    assert isinstance(PermissionDenied("No."), ServiceError)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("ab", "login_path_length"),
        ("a" * 41, "login_path_length"),
        ("-acme", "login_path_characters"),
        ("ac me", "login_path_characters"),
        ("Admin", "login_path_reserved"),
        ("ACME", "login_path_taken"),
    ],
)
def test_a_login_path_is_refused_with_a_code(org, raw, code):
    with pytest.raises(ServiceError) as refused:
        login_path_validate(raw)
    assert refused.value.code == code


@pytest.mark.django_db
def test_a_refused_login_path_says_which_and_what_to_do(org):
    with pytest.raises(ServiceError) as refused:
        login_path_validate("Acme")
    assert str(refused.value) == (
        "The login path 'acme' is taken by another organization (login paths are "
        "compared without regard to case); choose another."
    )


@pytest.mark.django_db
def test_an_organization_needs_a_name():
    with pytest.raises(ServiceError) as refused:
        organization_create(name=" ", login_path="acme", owner=make_user("o@a.test"))
    assert refused.value.code == "name_missing"


def test_a_role_without_the_permission_is_refused(org):
    viewer = make_member(org, "viewer")
    with pytest.raises(PermissionDenied) as refused:
        require_perm(viewer, "mappings.manage")
    assert refused.value.code == "role_not_allowed"


def test_a_user_without_the_staff_permission_is_refused(db):
    with pytest.raises(PermissionDenied) as refused:
        require_support(make_user("s@a.test"), "connections.change_connection")
    assert refused.value.code == "not_support_staff"
    assert "'connections.change_connection'" in str(refused.value)


def test_a_json_request_without_a_session_gets_a_code(client, org):
    response = client.get(
        reverse("audit_log", args=["acme"]), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 401
    assert response.json() == {"error": "Sign in first.", "code": "not_signed_in"}
