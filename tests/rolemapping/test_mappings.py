"""The role-mapping page and services: mappings, settings, refusals."""

import re

import pytest
from django.urls import reverse

from organizations.errors import PermissionDenied, ServiceError
from organizations.models import AuditEvent, Organization
from rolemapping.forms import ROLE_CHOICE_ERROR
from rolemapping.models import GroupRoleMapping
from rolemapping.services import (
    idp_group_clean,
    mapping_delete,
    mapping_set,
    membership_change_role,
    provisioning_settings_update,
)
from tests.factories import make_member


def url(name, *args):
    return reverse(name, args=["acme", *args])


def mappings_of(org):
    return dict(
        GroupRoleMapping.objects.filter(organization=org).values_list(
            "idp_group", "role__slug"
        )
    )


def test_an_admin_maps_a_group_and_it_is_listed(admin_client, org):
    response = admin_client.post(
        url("mappings"), {"idp_group": "  Engineering ", "role": "member"}
    )
    assert response.status_code == 302
    assert mappings_of(org) == {"Engineering": "member"}
    event = AuditEvent.objects.get(action="mapping.created")
    assert event.target == "Engineering" and event.details == {"role": "member"}

    page = admin_client.get(url("mappings"))
    assert page.status_code == 200
    assert "Engineering" in page.content.decode()


def test_posting_a_mapped_group_again_changes_its_role(admin_client, org, map_group):
    map_group(org, "Engineering", "member")
    admin_client.post(url("mappings"), {"idp_group": "Engineering", "role": "admin"})
    assert mappings_of(org) == {"Engineering": "admin"}
    event = AuditEvent.objects.get(action="mapping.changed")
    assert event.details == {"before": "member", "after": "admin"}


def test_group_names_are_case_sensitive(admin_client, org, map_group):
    map_group(org, "admins", "admin")
    admin_client.post(url("mappings"), {"idp_group": "ADMINS", "role": "viewer"})
    assert mappings_of(org) == {"admins": "admin", "ADMINS": "viewer"}


def test_several_groups_may_map_to_one_role(admin_client, org):
    for group in ("Eng", "Ops"):
        admin_client.post(url("mappings"), {"idp_group": group, "role": "member"})
    assert mappings_of(org) == {"Eng": "member", "Ops": "member"}


def test_the_owner_role_is_not_offered_and_is_refused(admin_client, org):
    page = admin_client.get(url("mappings")).content.decode()
    assert 'value="owner"' not in page

    response = admin_client.post(
        url("mappings"), {"idp_group": "Founders", "role": "owner"}
    )
    assert response.status_code == 400
    assert "owner role is never granted" in response.content.decode()
    assert mappings_of(org) == {}


def test_the_service_refuses_the_owner_role(org, admin):
    with pytest.raises(ServiceError) as refused:
        mapping_set(actor_membership=admin, idp_group="Founders", role_slug="owner")
    assert refused.value.code == "owner_not_grantable"
    with pytest.raises(ServiceError) as refused:
        provisioning_settings_update(
            actor_membership=admin,
            default_role_slug="owner",
            only_mapped_groups=False,
            invitation_only=False,
        )
    assert refused.value.code == "owner_not_grantable"


def test_the_service_refuses_a_role_the_organization_lacks(org, admin):
    with pytest.raises(ServiceError) as refused:
        mapping_set(actor_membership=admin, idp_group="Ops", role_slug="superuser")
    assert refused.value.code == "role_unknown"


@pytest.mark.parametrize("group", ["   ", "a\tb"])
def test_bad_group_names_are_refused_on_the_page(admin_client, org, group):
    response = admin_client.post(
        url("mappings"), {"idp_group": group, "role": "member"}
    )
    assert response.status_code == 400
    assert mappings_of(org) == {}


@pytest.mark.parametrize(
    ("group", "code"),
    [
        ("   ", "group_name_missing"),
        ("a\tb", "group_name_control_character"),
        ("Eng\nOps", "group_name_control_character"),
        ("g" * 256, "group_name_too_long"),
    ],
)
def test_bad_group_names_are_refused(group, code):
    with pytest.raises(ServiceError) as refused:
        idp_group_clean(group)
    assert refused.value.code == code


def test_a_too_long_group_name_is_refused(org, admin):
    with pytest.raises(ServiceError) as refused:
        mapping_set(actor_membership=admin, idp_group="g" * 256, role_slug="member")
    assert refused.value.code == "group_name_too_long"


def test_members_and_viewers_cannot_change_mappings(client, org, map_group):
    mapping = map_group(org, "Engineering", "member")
    member = make_member(org, "member")
    client.force_login(member.user)

    # Issue 20: members and viewers get their home page, not this one.
    assert client.get(url("mappings")).status_code == 403
    for path, data in (
        (url("mappings"), {"idp_group": "X", "role": "viewer"}),
        (url("mapping_delete", mapping.pk), {}),
        (url("mapping_settings"), {"default_role": "admin"}),
    ):
        response = client.post(path, data)
        assert response.status_code == 403
        assert "owners and admins" in response.content.decode() or (
            "does not allow this" in response.content.decode()
        )
    assert mappings_of(org) == {"Engineering": "member"}
    with pytest.raises(PermissionDenied) as refused:
        mapping_set(actor_membership=member, idp_group="X", role_slug="viewer")
    assert refused.value.code == "role_not_allowed"


def test_an_admin_deletes_a_mapping(admin_client, org, map_group):
    mapping = map_group(org, "Engineering", "member")
    response = admin_client.post(url("mapping_delete", mapping.pk))
    assert response.status_code == 302
    assert mappings_of(org) == {}
    event = AuditEvent.objects.get(action="mapping.deleted")
    assert event.target == "Engineering" and event.details == {"role": "member"}


def test_deleting_twice_says_it_is_gone(org, admin, map_group):
    mapping = map_group(org, "Engineering", "member")
    mapping_delete(actor_membership=admin, mapping=mapping)
    with pytest.raises(ServiceError) as refused:
        mapping_delete(actor_membership=admin, mapping=mapping)
    assert refused.value.code == "mapping_gone"


def test_settings_are_saved_and_audited_with_before_and_after(admin_client, org):
    response = admin_client.post(
        url("mapping_settings"),
        {"default_role": "viewer", "only_mapped_groups": "on", "invitation_only": "on"},
    )
    assert response.status_code == 302
    org = Organization.objects.get(pk=org.pk)
    assert org.default_role == "viewer"
    assert org.only_mapped_groups is True and org.invitation_only is True
    event = AuditEvent.objects.get(action="provisioning.settings_changed")
    assert event.details["before"] == {
        "default_role": None,
        "only_mapped_groups": False,
        "invitation_only": False,
    }
    assert event.details["after"]["default_role"] == "viewer"

    # An empty default role clears it; unchecked boxes turn settings off.
    admin_client.post(url("mapping_settings"), {"default_role": ""})
    org = Organization.objects.get(pk=org.pk)
    assert org.default_role == ""
    assert org.only_mapped_groups is False and org.invitation_only is False


def test_the_settings_form_refuses_the_owner_as_default_role(admin_client, org):
    response = admin_client.post(url("mapping_settings"), {"default_role": "owner"})
    assert response.status_code == 400
    assert str(ROLE_CHOICE_ERROR) in response.content.decode()
    assert Organization.objects.get(pk=org.pk).default_role == ""


def test_the_page_shows_current_settings(admin_client, org):
    Organization.objects.filter(pk=org.pk).update(
        default_role="member",
        invitation_only=True,
    )
    page = admin_client.get(url("mappings")).content.decode()
    assert '<option value="member" selected>' in page
    assert re.search(r'name="invitation_only"[^>]*checked', page)
    assert not re.search(r'name="only_mapped_groups"[^>]*checked', page)


def test_mappings_json(admin_client, org, map_group):
    map_group(org, "Engineering", "member")
    data = admin_client.get(url("mappings"), HTTP_ACCEPT="application/json").json()
    assert data["mappings"][0]["idp_group"] == "Engineering"
    assert data["mappings"][0]["role"] == "member"
    assert data["default_role"] is None


@pytest.mark.parametrize("rows", [3, 60])
def test_the_mappings_page_costs_constant_queries(
    admin_client, org, map_group, rows, django_assert_max_num_queries
):
    for i in range(rows):
        map_group(org, f"group-{i}", "member")
    # session, user, membership, switcher, roles, count, page
    with django_assert_max_num_queries(8):
        assert admin_client.get(url("mappings")).status_code == 200


def test_a_managed_members_role_cannot_be_edited_on_the_members_page(
    admin_client, org, managed_member
):
    member = managed_member(org, "member", ["Engineering"], email="m@acme.test")
    page = admin_client.get(reverse("member_list", args=["acme"])).content.decode()
    assert "Set by IdP groups" in page

    response = admin_client.post(
        reverse("member_role", args=["acme", member.pk]),
        {"role": "viewer"},
        follow=True,
    )
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    member.refresh_from_db()
    assert member.role.slug == "member"
    assert not AuditEvent.objects.filter(action="membership.role_changed").exists()


@pytest.mark.parametrize(
    ("target_role", "role_slug", "code"),
    [
        ("owner", "viewer", "owner_role_fixed"),
        ("member", "owner", "owner_not_grantable"),
        ("member", "mem\x00ber", "role_unknown"),
        ("admin", "viewer", "admin_owner_only"),
    ],
)
def test_a_hand_role_change_is_refused_with_a_code(
    org, admin, target_role, role_slug, code
):
    target = (
        org.owner.memberships.get(organization=org)
        if target_role == "owner"
        else make_member(org, target_role)
    )
    with pytest.raises(ServiceError) as refused:
        membership_change_role(
            actor_membership=admin, membership=target, role_slug=role_slug
        )
    assert refused.value.code == code


def test_a_managed_members_role_change_is_refused_with_a_code(
    org, admin, managed_member
):
    member = managed_member(org, "member", ["Engineering"], email="m@acme.test")
    with pytest.raises(ServiceError) as refused:
        membership_change_role(
            actor_membership=admin, membership=member, role_slug="viewer"
        )
    assert refused.value.code == "role_managed_by_idp"
    assert "m@acme.test" in str(refused.value)
