"""The impact preview: who a mapping or settings change would move, before saving."""

import re

import pytest
from django.urls import reverse

from organizations.models import AuditEvent, Organization
from rolemapping.models import GroupRoleMapping
from rolemapping.selectors import org_mappings
from rolemapping.services import impact_preview
from tests.factories import make_member


def url(name, *args):
    return reverse(name, args=["acme", *args])


@pytest.fixture
def team(org, map_group, managed_member):
    """Mappings, a viewer default, and five managed members (one deactivated)."""
    map_group(org, "Engineering", "member")
    admins = map_group(org, "Admins", "admin")
    Organization.objects.filter(pk=org.pk).update(default_role="viewer")
    managed_member(org, "member", ["Engineering"], email="eng@acme.test")
    managed_member(org, "admin", ["Admins"], email="boss@acme.test")
    managed_member(org, "viewer", ["Sales"], email="sales@acme.test")
    managed_member(org, "admin", ["Engineering", "Admins"], email="lead@acme.test")
    managed_member(org, "viewer", ["Sales"], email="left@acme.test", is_active=False)
    make_member(org, "member")  # not managed: never counted
    return {"admins": admins}


def shown_counts(response):
    html = response.content.decode()
    return {
        key: int(value)
        for key, value in re.findall(r'data-count="([a-z-]+)">(\d+)<', html)
    }


def test_counts_from_stored_groups_with_one_query_for_members(
    org, team, django_assert_num_queries
):
    org = Organization.objects.get(pk=org.pk)
    mappings = {"Engineering": "member", "Admins": "viewer"}
    with django_assert_num_queries(1):
        impact = impact_preview(
            organization=org,
            mappings=mappings,
            default_role="viewer",
            only_mapped_groups=False,
        )
    assert impact.managed_count == 4
    assert sorted(impact.role_changes) == [
        ("boss@acme.test", "admin", "viewer"),
        ("lead@acme.test", "admin", "member"),
    ]
    assert impact.lose_access == []


def test_only_mapped_groups_shows_who_would_lose_access(org, team):
    impact = impact_preview(
        organization=org,
        mappings=org_mappings(org),
        default_role="viewer",
        only_mapped_groups=True,
    )
    assert [email for email, _ in impact.lose_access] == ["sales@acme.test"]
    assert impact.role_changes == []


def test_a_new_default_role_shows_changes_and_skips_deactivated_members(org, team):
    impact = impact_preview(
        organization=org,
        mappings=org_mappings(org),
        default_role="member",
        only_mapped_groups=False,
    )
    assert impact.role_changes == [("sales@acme.test", "viewer", "member")]
    assert impact.managed_count == 4


def test_changing_a_mapping_previews_then_saves_on_confirm(admin_client, org, team):
    data = {"idp_group": "Admins", "role": "viewer"}
    response = admin_client.post(url("mappings"), data)

    assert response.status_code == 200
    assert "Check the impact" in response.content.decode()
    assert shown_counts(response) == {"role-changes": 2, "lose-access": 0}
    assert GroupRoleMapping.objects.get(idp_group="Admins").role.slug == "admin"
    assert 'name="confirm" value="1"' in response.content.decode()

    response = admin_client.post(url("mappings"), {**data, "confirm": "1"})
    assert response.status_code == 302
    assert GroupRoleMapping.objects.get(idp_group="Admins").role.slug == "viewer"


def test_deleting_a_mapping_previews_first(admin_client, org, team):
    engineering = GroupRoleMapping.objects.get(idp_group="Engineering")
    response = admin_client.post(url("mapping_delete", engineering.pk))
    assert shown_counts(response) == {"role-changes": 1, "lose-access": 0}
    assert "eng@acme.test" in response.content.decode()
    assert GroupRoleMapping.objects.filter(pk=engineering.pk).exists()

    admin_client.post(url("mapping_delete", engineering.pk), {"confirm": "1"})
    assert not GroupRoleMapping.objects.filter(pk=engineering.pk).exists()


def test_settings_changes_preview_then_save(admin_client, org, team):
    data = {"default_role": "", "only_mapped_groups": "on"}
    response = admin_client.post(url("mapping_settings"), data)
    assert shown_counts(response) == {"role-changes": 0, "lose-access": 1}
    assert Organization.objects.get(pk=org.pk).only_mapped_groups is False
    assert not AuditEvent.objects.filter(
        action="provisioning.settings_changed"
    ).exists()

    admin_client.post(url("mapping_settings"), {**data, "confirm": "1"})
    org = Organization.objects.get(pk=org.pk)
    assert org.only_mapped_groups is True and org.default_role == ""


def test_invitation_only_alone_needs_no_preview(admin_client, org, team):
    response = admin_client.post(
        url("mapping_settings"), {"default_role": "viewer", "invitation_only": "on"}
    )
    assert response.status_code == 302
    assert Organization.objects.get(pk=org.pk).invitation_only is True


def test_without_managed_members_changes_save_at_once(admin_client, org):
    response = admin_client.post(
        url("mappings"), {"idp_group": "Engineering", "role": "member"}
    )
    assert response.status_code == 302
    assert GroupRoleMapping.objects.filter(idp_group="Engineering").exists()
