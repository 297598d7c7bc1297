"""Role sync through real sign-ins at the test IdP: the role follows the groups,
removal refuses the next sign-in and ends the open session, and the members page
refuses to edit a managed member by hand."""

import pytest
from django.test import Client
from django.urls import reverse

from organizations.models import AuditEvent, Organization
from rolemapping.models import Membership, Role
from tests.invitations.sso_flow import make_sso_live, sign_in_through_idp


@pytest.fixture
def sso_org(org, clean_oidc_idp, map_group):
    make_sso_live(org, clean_oidc_idp)
    map_group(org, "Engineering", "member")
    map_group(org, "Admins", "admin")
    Organization.objects.filter(pk=org.pk).update(only_mapped_groups=True)
    clean_oidc_idp.add_account("dev-1", "dev@acme.test", groups=["Engineering"])
    return org


def sign_in(client, idp):
    return sign_in_through_idp(
        client, idp, reverse("sso_login", args=["acme"]), "dev@acme.test"
    )


def test_the_role_follows_the_groups_between_two_signins(
    client, sso_org, clean_oidc_idp
):
    assert sign_in(client, clean_oidc_idp).status_code == 302
    membership = Membership.objects.get(user__email="dev@acme.test")
    assert membership.role.slug == "member" and membership.managed_by_idp

    clean_oidc_idp.set_groups("dev-1", ["Engineering", "Admins"])
    assert sign_in(client, clean_oidc_idp).status_code == 302

    membership.refresh_from_db()
    assert membership.role.slug == "admin"
    assert membership.idp_groups == ["Engineering", "Admins"]
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert (event.details["before"], event.details["after"]) == ("member", "admin")


def test_removal_from_every_mapped_group_refuses_and_ends_the_open_session(
    client, sso_org, clean_oidc_idp
):
    assert sign_in(client, clean_oidc_idp).status_code == 302
    assert client.get(reverse("org_overview", args=["acme"])).status_code == 200

    clean_oidc_idp.set_groups("dev-1", ["Sales"])
    other_browser = Client()
    refused = sign_in(other_browser, clean_oidc_idp)

    assert refused.status_code == 403
    assert "not in any group" in refused.content.decode()
    assert Membership.objects.get(user__email="dev@acme.test").is_active is False
    # The first browser's session ends on its next request.
    assert client.get(reverse("me")).status_code == 401


def test_a_manual_role_edit_of_a_managed_member_is_refused(
    owner_client, sso_org, clean_oidc_idp
):
    sign_in(Client(), clean_oidc_idp)
    membership = Membership.objects.get(user__email="dev@acme.test")

    response = owner_client.post(
        reverse("member_role", args=["acme", membership.pk]),
        {"role": "viewer"},
        follow=True,
    )

    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    membership.refresh_from_db()
    assert membership.role == Role.objects.get(organization=sso_org, slug="member")
