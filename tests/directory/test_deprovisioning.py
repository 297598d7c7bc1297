"""Deprovisioning through SCIM: access ends within one request, the owner is
out of any directory's reach, and a deprovisioned person stays out until the
directory brings them back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from invitations.models import Invitation
from invitations.services import invitation_accept_for_user, token_hash
from organizations.errors import ServiceError
from rolemapping.models import Membership, Role
from tests.directory.conftest import DOMAIN, Scim, user_body
from tests.factories import PASSWORD, make_member, make_user
from tests.invitations.sso_flow import make_sso_live, sign_in_through_idp

pytestmark = pytest.mark.django_db

DEACTIVATE = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "value": {"active": False}}],
}
REACTIVATE = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "value": {"active": True}}],
}


def password_sign_in(email: str) -> Client:
    browser = Client()
    response = browser.post(reverse("login"), {"username": email, "password": PASSWORD})
    assert response.status_code == 302
    return browser


def signed_in(browser: Client) -> bool:
    return browser.get(reverse("me"), HTTP_ACCEPT="application/json").status_code == 200


def provisioned_with_password(scim: Scim, org, email: str) -> str:
    """An invited member with a password, then claimed by the directory."""
    make_member(org, user=make_user(email))
    response = scim.post("Users", user_body(email))
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.parametrize("how", ["patch_active_false", "put_active_false", "delete"])
def test_deprovisioning_ends_a_signed_in_session_on_its_next_request(scim, org, how):
    email = f"ada@{DOMAIN}"
    scim_id = provisioned_with_password(scim, org, email)
    browser = password_sign_in(email)
    assert browser.get(reverse("org_overview", args=["acme"])).status_code == 200

    if how == "patch_active_false":
        response = scim.patch(f"Users/{scim_id}", DEACTIVATE)
    elif how == "put_active_false":
        response = scim.put(f"Users/{scim_id}", user_body(email, active=False))
    else:
        response = scim.delete(f"Users/{scim_id}")
    assert response.status_code in (200, 204)

    assert not signed_in(browser)
    membership = Membership.objects.get(user__email=email, organization=org)
    assert membership.is_active is False and membership.directory_suspended
    # And a fresh password sign-in does not reach the organization either.
    again = password_sign_in(email)
    assert again.get(reverse("org_overview", args=["acme"])).status_code == 404


def test_after_delete_the_user_is_gone_from_scim_and_can_be_provisioned_again(
    scim, org
):
    email = f"ada@{DOMAIN}"
    scim_id = provisioned_with_password(scim, org, email)
    assert scim.delete(f"Users/{scim_id}").status_code == 204
    assert scim.get(f"Users/{scim_id}").status_code == 404
    assert scim.delete(f"Users/{scim_id}").status_code == 404

    response = scim.post("Users", user_body(email))

    assert response.status_code == 201
    membership = Membership.objects.get(user__email=email, organization=org)
    assert membership.is_active and not membership.directory_suspended


def test_reactivation_restores_access_at_the_next_sign_in(scim, org):
    email = f"ada@{DOMAIN}"
    scim_id = provisioned_with_password(scim, org, email)
    scim.patch(f"Users/{scim_id}", DEACTIVATE)

    assert scim.patch(f"Users/{scim_id}", REACTIVATE).status_code == 200

    browser = password_sign_in(email)
    assert browser.get(reverse("org_overview", args=["acme"])).status_code == 200


@pytest.mark.parametrize("how", ["patch", "put", "delete"])
def test_no_directory_can_deactivate_or_delete_the_owner(scim, org, how):
    owner = org.owner
    owner.email = f"owner@{DOMAIN}"
    owner.save()
    created = scim.post("Users", user_body(owner.email)).json()
    browser = password_sign_in(owner.email)

    if how == "patch":
        response = scim.patch(f"Users/{created['id']}", DEACTIVATE)
    elif how == "put":
        response = scim.put(
            f"Users/{created['id']}", user_body(owner.email, active=False)
        )
    else:
        response = scim.delete(f"Users/{created['id']}")

    assert response.status_code == 403
    assert "owner" in response.json()["detail"]
    membership = Membership.objects.select_related("role").get(user=owner)
    assert membership.is_active and membership.role.slug == "owner"
    assert signed_in(browser)
    assert scim.get(f"Users/{created['id']}").json()["active"] is True


def test_groups_never_demote_the_owner(scim, org):
    from rolemapping.models import GroupRoleMapping

    GroupRoleMapping.objects.create(
        organization=org,
        idp_group="Viewers",
        role=Role.objects.get(organization=org, slug="viewer"),
    )
    owner = org.owner
    owner.email = f"owner@{DOMAIN}"
    owner.save()
    created = scim.post("Users", user_body(owner.email)).json()

    response = scim.post(
        "Groups", {"displayName": "Viewers", "members": [{"value": created["id"]}]}
    )

    assert response.status_code == 201
    membership = Membership.objects.select_related("role").get(user=owner)
    assert membership.role.slug == "owner" and membership.is_active


def test_a_directory_deactivated_member_cannot_accept_an_invitation_back(scim, org):
    email = f"ada@{DOMAIN}"
    scim_id = provisioned_with_password(scim, org, email)
    scim.patch(f"Users/{scim_id}", DEACTIVATE)
    Invitation.objects.create(
        organization=org,
        email=email,
        role=Role.objects.get(organization=org, slug="admin"),
        token_hash=token_hash("invite-token"),
        invited_by=org.owner,
        expires_at=timezone.now() + timedelta(days=7),
    )
    user = Membership.objects.get(user__email=email).user

    with pytest.raises(ServiceError) as refused:
        invitation_accept_for_user(token="invite-token", user=user)

    assert refused.value.code == "directory_deactivated"
    assert Membership.objects.get(user=user).is_active is False


# ------------------------------------------------------ with the real IdP


@pytest.fixture
def sso_scim(org, clean_oidc_idp, token):
    make_sso_live(org, clean_oidc_idp)
    clean_oidc_idp.add_account("dev-1", "dev@acme.test", groups=["Engineering"])
    return Scim(Client(), org.login_path, token)


def sso_sign_in(browser, idp):
    return sign_in_through_idp(
        browser, idp, reverse("sso_login", args=["acme"]), "dev@acme.test"
    )


def test_a_scim_created_member_is_linked_to_their_identity_at_first_sign_in(
    sso_scim, clean_oidc_idp
):
    created = sso_scim.post("Users", user_body("dev@acme.test", emails=[]))
    assert created.status_code == 201
    membership = Membership.objects.get(user__email="dev@acme.test")

    browser = Client()
    assert sso_sign_in(browser, clean_oidc_idp).status_code == 302

    membership.refresh_from_db()
    assert membership.is_active and membership.managed_by_directory
    assert membership.user.email_verified_at is not None
    assert membership.user.identities.count() == 1
    assert signed_in(browser)


def test_a_deprovisioned_member_cannot_get_back_in_through_sso_until_reactivated(
    sso_scim, clean_oidc_idp
):
    scim_id = sso_scim.post("Users", user_body("dev@acme.test", emails=[])).json()["id"]
    browser = Client()
    assert sso_sign_in(browser, clean_oidc_idp).status_code == 302
    assert signed_in(browser)

    assert sso_scim.patch(f"Users/{scim_id}", DEACTIVATE).status_code == 200
    assert not signed_in(browser)

    refused = sso_sign_in(Client(), clean_oidc_idp)
    assert refused.status_code == 403
    assert "directory" in refused.content.decode()
    assert Membership.objects.get(user__email="dev@acme.test").is_active is False

    sso_scim.patch(f"Users/{scim_id}", REACTIVATE)
    again = Client()
    assert sso_sign_in(again, clean_oidc_idp).status_code == 302
    assert signed_in(again)


def test_a_person_the_directory_holds_inactive_is_not_let_in_just_in_time(
    sso_scim, clean_oidc_idp
):
    # Provisioned inactive, before any membership: SSO does not create one.
    body = user_body("dev@acme.test", emails=[], active=False)
    assert sso_scim.post("Users", body).status_code == 201
    assert not Membership.objects.filter(user__email="dev@acme.test").exists()

    refused = sso_sign_in(Client(), clean_oidc_idp)

    assert refused.status_code == 403
    assert "directory" in refused.content.decode()
    assert not Membership.objects.filter(user__email="dev@acme.test").exists()
