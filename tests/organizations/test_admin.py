"""The Django admin for support staff: organizations and the audit log, read-only."""

from __future__ import annotations

from django.urls import reverse

from organizations.models import AuditEvent, Organization
from organizations.services import audit
from tests.admin_pages import (
    assert_constant_changelist_queries,
    change_url,
    changelist_url,
    page,
)
from tests.factories import make_org, make_user


def test_organization_pages_render_and_search_by_name_path_and_owner(
    admin_client, org, other_org
):
    for term in ("Acme", "acme", org.owner.email):
        response = admin_client.get(changelist_url(Organization), {"q": term})
        assert list(response.context["cl"].result_list) == [org], term
    html = page(admin_client, change_url(org))
    assert org.owner.email in html
    # Links to what support looks up next, filtered to this organization.
    members = reverse("admin:rolemapping_membership_changelist")
    assert f"{members}?organization__id__exact={org.pk}" in html
    page(admin_client, members, organization__id__exact=org.pk)


def test_organization_changelist_costs_the_same_with_1_and_20_rows(
    admin_client, django_assert_max_num_queries
):
    assert_constant_changelist_queries(
        admin_client, Organization, make_org, django_assert_max_num_queries
    )


def test_organizations_cannot_be_added_changed_or_deleted(admin_client, org):
    assert admin_client.post(change_url(org), {"name": "Renamed"}).status_code == 403
    assert (
        admin_client.get(reverse("admin:organizations_organization_add")).status_code
        == 403
    )
    admin_client.post(
        changelist_url(Organization),
        {"action": "delete_selected", "_selected_action": [org.pk], "index": 0},
    )
    assert Organization.objects.get(pk=org.pk).name == "Acme Inc"


def test_audit_pages_render_and_search_by_actor_organization_and_action(
    admin_client, org, other_org
):
    staff = make_user("helper@support.test")
    row = audit(
        action="connection.published",
        organization=org,
        actor=staff,
        target="Okta",
        details={"by": "support"},
    )
    for term in ("helper@support.test", "connection.published"):
        response = admin_client.get(changelist_url(AuditEvent), {"q": term})
        assert list(response.context["cl"].result_list) == [row], term
    response = admin_client.get(changelist_url(AuditEvent), {"q": "globex"})
    assert {event.organization for event in response.context["cl"].result_list} == {
        other_org
    }
    html = page(admin_client, changelist_url(AuditEvent))
    assert "support" in html
    page(admin_client, change_url(row))
    assert admin_client.post(change_url(row), {"action": "x"}).status_code == 403


def test_audit_changelist_costs_the_same_with_1_and_20_rows(
    admin_client, org, django_assert_max_num_queries
):
    def row():
        return audit(action="test.row", organization=org, actor=make_user(), target="t")

    assert_constant_changelist_queries(
        admin_client, AuditEvent, row, django_assert_max_num_queries
    )
