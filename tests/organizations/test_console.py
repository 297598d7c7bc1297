import pytest
from django.urls import reverse

from organizations.models import AuditEvent
from rolemapping.models import Role
from tests.conftest import client_for
from tests.factories import make_member


def test_overview_shows_the_setup_checklist(owner_client, org):
    response = owner_client.get(reverse("org_overview", args=["acme"]))
    body = response.content.decode()
    assert response.status_code == 200
    for step in (
        "Verify an email domain",
        "Add an SSO connection",
        "Test the connection",
        "Map IdP groups to roles",
        "Invite people",
        "Enforce SSO",
    ):
        assert step in body
    assert "0 of 7 done" in body


def test_members_json_view(owner_client, org):
    make_member(org, "viewer", managed_by_idp=True, source="sso")
    data = owner_client.get(
        reverse("member_list", args=["acme"]), HTTP_ACCEPT="application/json"
    ).json()
    assert data[0] == {
        "email": org.owner.email,
        "role": "owner",
        "source": "owner",
        "managed_by_idp": False,
        "managed_by_directory": False,
        "is_active": True,
    }
    assert data[1]["role"] == "viewer" and data[1]["managed_by_idp"] is True


@pytest.mark.parametrize("rows", [5, 60])
def test_console_lists_cost_constant_queries(
    owner_client, org, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        make_member(org, "member")
    # session, user, membership, switcher, count, page: same for 5 and 60 rows.
    with django_assert_max_num_queries(8):
        assert (
            owner_client.get(reverse("member_list", args=["acme"])).status_code == 200
        )
    with django_assert_max_num_queries(8):
        assert owner_client.get(reverse("audit_log", args=["acme"])).status_code == 200


def test_list_pages_query_count_does_not_grow(
    owner_client, org, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(url):
        with CaptureQueriesContext(connection) as ctx:
            owner_client.get(url)
        return len(ctx)

    url = reverse("member_list", args=["acme"])
    before = count(url)
    for _ in range(30):
        make_member(org, "member")
    assert count(url) == before


def test_viewer_neither_reads_nor_changes_roles(client, org):
    # Issue 20: members and viewers get their home page, not the members page.
    viewer = make_member(org, "viewer")
    target = make_member(org, "member")
    client_for(client, viewer)
    assert client.get(reverse("member_list", args=["acme"])).status_code == 403
    response = client.post(
        reverse("member_role", args=["acme", target.pk]), {"role": "admin"}
    )
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.role.slug == "member"


def test_admin_changes_a_member_role_with_an_audit_row(client, org):
    admin = make_member(org, "admin")
    target = make_member(org, "member")
    client_for(client, admin)
    client.post(reverse("member_role", args=["acme", target.pk]), {"role": "viewer"})
    target.refresh_from_db()
    assert target.role.slug == "viewer"
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert event.actor == admin.user
    assert event.details == {"before": "member", "after": "viewer", "by": "hand"}


def test_nobody_is_made_owner_and_managed_members_are_refused(owner_client, org):
    target = make_member(org, "member")
    owner_client.post(
        reverse("member_role", args=["acme", target.pk]), {"role": "owner"}
    )
    target.refresh_from_db()
    assert target.role.slug == "member"

    managed = make_member(org, "member", managed_by_idp=True, source="sso")
    response = owner_client.post(
        reverse("member_role", args=["acme", managed.pk]),
        {"role": "admin"},
        follow=True,
    )
    assert "managed by your identity provider" in response.content.decode()
    managed.refresh_from_db()
    assert managed.role.slug == "member"
    assert (
        Role.objects.filter(organization=org, slug="owner").get().members.count() == 1
    )


def test_deactivated_member_loses_access(client, org):
    member = make_member(org, "member", is_active=False)
    client_for(client, member)
    assert client.get(reverse("org_overview", args=["acme"])).status_code == 404


def test_anonymous_is_sent_to_sign_in_and_json_gets_401(client, org):
    url = reverse("member_list", args=["acme"])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert client.get(url, HTTP_ACCEPT="application/json").status_code == 401


@pytest.mark.django_db
def test_home_opens_the_oldest_active_membership_or_says_there_is_none(client):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import make_org, make_user

    user = make_user()
    client.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    templates = [t.name for t in client.get("/").templates]
    assert "organizations/no_org.html" in templates

    now = timezone.now()
    newer = make_member(make_org(), user=user, created_at=now)
    older = make_member(make_org(), user=user, created_at=now - timedelta(days=2))
    make_member(
        make_org(), user=user, created_at=now - timedelta(days=9), is_active=False
    )

    assert client.get("/")["Location"] == older.organization.get_absolute_url()
    older.is_active = False
    older.save(update_fields=["is_active"])
    assert client.get("/")["Location"] == newer.organization.get_absolute_url()
