"""Accepting invitations through a real sign-in at the test IdP.

The invitation link starts the organization's SSO with ``login_hint``; the SSO
callback accepts the invitation only for the address it was sent to.
"""

import pytest
from django.urls import reverse

from connections.models import SignInEvent
from invitations.models import Invitation
from organizations.models import Organization
from rolemapping.models import GroupRoleMapping, Membership, Role

from .sso_flow import make_sso_live, sign_in_through_idp


@pytest.fixture
def sso_org(org, clean_oidc_idp):
    """Acme with a verified domain, a live connection and a viewer default."""
    make_sso_live(org, clean_oidc_idp)
    Organization.objects.filter(pk=org.pk).update(default_role="viewer")
    return org


def test_the_invited_address_accepts_through_sso_with_the_invitation_role(
    client, sso_org, clean_oidc_idp, issue
):
    clean_oidc_idp.add_account("dev-1", "dev@acme.test", groups=["Everyone"])
    invitation, token = issue(sso_org, "dev@acme.test", role="admin")

    response = sign_in_through_idp(
        client,
        clean_oidc_idp,
        reverse("invitation_accept", args=[token]),
        "dev@acme.test",
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    membership = Membership.objects.get(
        organization=sso_org, user__email="dev@acme.test"
    )
    assert membership.role.slug == "admin"
    assert membership.managed_by_idp is True
    assert membership.source == Membership.Source.INVITATION
    invitation.refresh_from_db()
    assert invitation.state == "accepted"
    assert invitation.accepted_by == membership.user
    assert "pending_invitation_id" not in client.session
    event = SignInEvent.objects.get(outcome="success")
    assert event.detail == (
        "Signed in as admin: the role of their invitation (no mapped group)."
    )


def test_a_mapped_group_wins_over_the_invitation_role(
    client, sso_org, clean_oidc_idp, issue
):
    GroupRoleMapping.objects.create(
        organization=sso_org,
        idp_group="Engineering",
        role=Role.objects.get(organization=sso_org, slug="member"),
    )
    clean_oidc_idp.add_account("dev-1", "dev@acme.test", groups=["Engineering"])
    _, token = issue(sso_org, "dev@acme.test", role="admin")

    sign_in_through_idp(
        client,
        clean_oidc_idp,
        reverse("invitation_accept", args=[token]),
        "dev@acme.test",
    )

    membership = Membership.objects.get(user__email="dev@acme.test")
    assert membership.role.slug == "member"


def test_a_different_address_at_the_idp_accepts_nothing_and_names_the_expected_one(
    client, sso_org, clean_oidc_idp, issue
):
    clean_oidc_idp.add_account("other-1", "other@acme.test")
    invitation, token = issue(sso_org, "dev@acme.test")

    response = sign_in_through_idp(
        client,
        clean_oidc_idp,
        reverse("invitation_accept", args=[token]),
        "other@acme.test",
    )

    assert response.status_code == 403
    assert "This invitation is for dev@acme.test" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.state == "pending"
    assert not Membership.objects.filter(user__email="other@acme.test").exists()


def test_invitation_only_refuses_an_uninvited_sso_user(client, sso_org, clean_oidc_idp):
    Organization.objects.filter(pk=sso_org.pk).update(invitation_only=True)
    clean_oidc_idp.add_account("walk-in", "walkin@acme.test")

    response = sign_in_through_idp(
        client,
        clean_oidc_idp,
        reverse("sso_login", args=["acme"]),
        "walkin@acme.test",
    )

    assert response.status_code == 403
    assert "invitation only" in response.content.decode()
    assert not Membership.objects.filter(user__email="walkin@acme.test").exists()


def test_invitation_only_lets_an_invited_person_in_without_the_link(
    client, sso_org, clean_oidc_idp, issue
):
    Organization.objects.filter(pk=sso_org.pk).update(invitation_only=True)
    clean_oidc_idp.add_account("dev-1", "dev@acme.test")
    invitation, _ = issue(sso_org, "dev@acme.test", role="member")

    response = sign_in_through_idp(
        client, clean_oidc_idp, reverse("sso_login", args=["acme"]), "dev@acme.test"
    )

    assert response.status_code == 302
    assert Membership.objects.get(user__email="dev@acme.test").role.slug == "member"
    assert Invitation.objects.get(pk=invitation.pk).state == "accepted"
