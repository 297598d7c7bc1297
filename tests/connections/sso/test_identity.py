"""Who a verified ID token signs in as: identities, linking, provisioning.

An identity is (connection, issuer, sub); an email links or creates an account
only when the IdP verified it and its domain is verified by this organization.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from connections.models import SignInEvent, SsoIdentity
from invitations.models import Invitation
from rolemapping.models import Membership, Role
from tests.factories import make_member, make_org, make_user

from .helpers import (
    assert_refused,
    callback,
    make_connection,
    map_group,
    set_default_role,
    signed_in_user_id,
    start_login,
    verify_domain,
)

pytestmark = pytest.mark.django_db


def sign_in(client, fake, login_path="acme", **claims):
    request = start_login(client, login_path)
    fake.next_id_token = fake.id_token(request["nonce"], **claims)
    return callback(client, fake.issuer, request["state"])


@pytest.fixture
def globex(other_org, other_fake_idp):
    verify_domain(other_org, "globex.test")
    set_default_role(other_org, "member")
    make_connection(other_org, issuer=other_fake_idp.issuer)
    return other_org


def test_two_organizations_whose_idps_both_send_sub_123_get_two_users(
    acme, acme_connection, fake_idp, globex, other_fake_idp
):
    first, second = Client(), Client()
    assert sign_in(first, fake_idp, sub="123", email="ann@acme.test").status_code == 302
    response = sign_in(
        second, other_fake_idp, "globex", sub="123", email="ann@globex.test"
    )
    assert response.status_code == 302

    identities = SsoIdentity.objects.filter(subject="123").select_related("user")
    assert {i.user.email for i in identities} == {"ann@acme.test", "ann@globex.test"}
    assert signed_in_user_id(first) != signed_in_user_id(second)


def test_same_sub_at_a_second_org_cannot_reach_the_first_orgs_user(
    acme, acme_connection, fake_idp, globex, other_fake_idp
):
    sign_in(Client(), fake_idp, sub="123", email="ann@acme.test")
    browser = Client()
    response = sign_in(
        browser, other_fake_idp, "globex", sub="123", email="ann@acme.test"
    )

    assert_refused(browser, response, "email_domain")
    ann = User.objects.get(email="ann@acme.test")
    assert not Membership.objects.filter(user=ann, organization=globex).exists()


def test_idp_asserting_another_orgs_member_email_does_not_sign_into_that_account(
    acme, acme_connection, fake_idp, globex
):
    bob = make_member(globex, user=make_user("bob@globex.test")).user
    browser = Client()
    response = sign_in(browser, fake_idp, sub="evil", email="bob@globex.test")

    event = assert_refused(browser, response, "email_domain")
    assert event.organization == acme
    assert not SsoIdentity.objects.filter(user=bob).exists()
    assert not Membership.objects.filter(user=bob, organization=acme).exists()


def test_existing_account_is_linked_when_email_is_verified_in_a_verified_domain(
    client, acme, acme_connection, fake_idp
):
    ada = make_user("ada@acme.test")
    response = sign_in(client, fake_idp, sub="00u-ada", email="Ada@ACME.test")

    assert response.status_code == 302
    assert signed_in_user_id(client) == str(ada.pk)
    assert SsoIdentity.objects.get().user == ada
    assert ada.has_usable_password()  # the password account is kept as it was


def test_existing_account_is_not_linked_when_the_email_is_unverified(
    client, acme, acme_connection, fake_idp
):
    ada = make_user("ada@acme.test")
    response = sign_in(client, fake_idp, email_verified=False)

    assert_refused(client, response, "email_verified")
    assert not SsoIdentity.objects.filter(user=ada).exists()


def test_email_verified_as_the_string_true_counts(
    client, acme, acme_connection, fake_idp
):
    assert sign_in(client, fake_idp, email_verified="true").status_code == 302


def test_identity_is_found_by_sub_not_by_email(client, acme, acme_connection, fake_idp):
    sign_in(Client(), fake_idp, sub="00u-ada", email="ada@acme.test")
    response = sign_in(client, fake_idp, sub="00u-ada", email="ada.lovelace@acme.test")

    assert response.status_code == 302
    assert signed_in_user_id(client) == str(User.objects.get(email="ada@acme.test").pk)
    assert not User.objects.filter(email="ada.lovelace@acme.test").exists()


def test_another_sub_with_a_linked_email_links_to_the_same_account(
    client, acme, acme_connection, fake_idp
):
    sign_in(Client(), fake_idp, sub="00u-ada", email="ada@acme.test")
    response = sign_in(client, fake_idp, sub="00u-ada-2", email="ada@acme.test")

    assert response.status_code == 302
    assert User.objects.filter(email="ada@acme.test").count() == 1
    assert SsoIdentity.objects.filter(user__email="ada@acme.test").count() == 2


def test_linked_account_is_refused_once_the_domain_is_no_longer_verified(
    client, acme, acme_connection, fake_idp
):
    sign_in(Client(), fake_idp)
    acme.domains.update(status="failed")

    response = sign_in(client, fake_idp)

    assert_refused(client, response, "email_domain")


def test_missing_email_claim_is_refused(client, acme, acme_connection, fake_idp):
    fake_idp.userinfo = {"sub": "00u-ada", "name": "Ada"}  # no email there either
    response = sign_in(client, fake_idp, email=None)
    assert_refused(client, response, "email")


def test_staff_and_inactive_accounts_are_never_signed_into(
    acme, acme_connection, fake_idp
):
    User.objects.create_superuser("root@acme.test", "pw-123-long-enough")
    browser = Client()
    assert_refused(
        browser,
        sign_in(browser, fake_idp, sub="s1", email="root@acme.test"),
        "staff_account",
    )
    gone = make_user("gone@acme.test")
    gone.is_active = False
    gone.save()
    browser = Client()
    assert_refused(
        browser,
        sign_in(browser, fake_idp, sub="s2", email="gone@acme.test"),
        "inactive",
    )


def test_role_comes_from_the_group_mapping(client, acme, acme_connection, fake_idp):
    map_group(acme, "Admins", "admin")
    sign_in(client, fake_idp, groups=["Engineering", "Admins"])

    membership = Membership.objects.get(user__email="ada@acme.test", organization=acme)
    assert membership.role.slug == "admin"
    assert membership.idp_groups == ["Engineering", "Admins"]


def test_refused_by_role_mapping_creates_no_account(
    client, acme, acme_connection, fake_idp
):
    acme.only_mapped_groups = True
    acme.save()
    map_group(acme, "Admins", "admin")

    response = sign_in(client, fake_idp, groups=["Engineering"])

    assert_refused(client, response, "role")
    assert not User.objects.filter(email="ada@acme.test").exists()


def test_member_removed_from_mapped_groups_is_deactivated_and_refused(
    client, acme, acme_connection, fake_idp
):
    acme.only_mapped_groups = True
    acme.save()
    map_group(acme, "Engineering", "member")
    sign_in(Client(), fake_idp, groups=["Engineering"])

    response = sign_in(client, fake_idp, groups=["Sales"])

    assert_refused(client, response, "role")
    membership = Membership.objects.get(user__email="ada@acme.test", organization=acme)
    assert not membership.is_active


def test_owner_keeps_the_owner_role_when_signing_in_by_sso(
    client, acme, acme_connection, fake_idp
):
    owner = acme.owner
    owner.email = "boss@acme.test"
    owner.save()
    response = sign_in(client, fake_idp, sub="00u-boss", email="boss@acme.test")

    assert response.status_code == 302
    assert signed_in_user_id(client) == str(owner.pk)
    assert owner.memberships.get(organization=acme).role.slug == "owner"


def _invite(org, email, role="admin", **fields):
    return Invitation.objects.create(
        organization=org,
        email=email,
        role=Role.objects.get(organization=org, slug=role),
        token_hash=f"hash-{email}",
        expires_at=timezone.now() + timedelta(days=7),
        **fields,
    )


def test_invitation_only_refuses_people_without_an_invitation(
    client, acme, acme_connection, fake_idp
):
    acme.invitation_only = True
    acme.save()

    response = sign_in(client, fake_idp)

    assert_refused(client, response, "invitation_only")
    assert not User.objects.filter(email="ada@acme.test").exists()


def test_invitation_only_lets_invited_people_in_with_the_invited_role(
    client, acme, acme_connection, fake_idp
):
    acme.invitation_only = True
    acme.save()
    invitation = _invite(acme, "ada@acme.test", "admin")

    response = sign_in(client, fake_idp)

    assert response.status_code == 302
    membership = Membership.objects.get(user__email="ada@acme.test", organization=acme)
    assert membership.role.slug == "admin"
    invitation.refresh_from_db()
    assert invitation.accepted_by == membership.user


def test_pending_invitation_for_another_address_is_refused(
    client, acme, acme_connection, fake_idp
):
    invitation = _invite(acme, "carol@acme.test")
    session = client.session
    session["pending_invitation_id"] = invitation.pk
    session.save()

    response = sign_in(client, fake_idp)

    event = assert_refused(client, response, "invitation")
    assert "carol@acme.test" in response.content.decode()
    assert event.email == "ada@acme.test"
    assert "pending_invitation_id" not in client.session


def test_invitation_only_lets_existing_members_back_in(
    client, acme, acme_connection, fake_idp
):
    acme.invitation_only = True
    acme.save()
    make_member(acme, user=make_user("ada@acme.test"))

    assert sign_in(client, fake_idp).status_code == 302


def test_events_are_per_organization(acme, acme_connection, fake_idp, globex):
    sign_in(Client(), fake_idp)
    assert SignInEvent.objects.filter(organization=acme).count() == 1
    assert not SignInEvent.objects.filter(organization=globex).exists()


def test_a_second_org_with_the_same_email_domain_cannot_exist(acme):
    # The premise of the email rule: one organization per verified domain.
    with pytest.raises(Exception):  # noqa: B017, PT011
        verify_domain(make_org(), "acme.test")


def test_a_session_restores_only_an_active_account():
    """The backend's get_user, as Django calls it for a session's user id."""
    from connections.backend import OrganizationOIDCBackend

    active, gone = make_user(), make_user()
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    backend = OrganizationOIDCBackend()

    assert backend.get_user(active.pk) == active
    assert backend.get_user(str(active.pk)) == active  # Django's contract
    assert backend.get_user(gone.pk) is None
    for unusable in (None, "", "x", 10**30, 0):
        assert backend.get_user(unusable) is None


def test_an_sso_claim_with_a_trailing_dot_reaches_the_same_account(
    client, acme, acme_connection, fake_idp
):
    user = make_user("ada@acme.test")
    response = sign_in(client, fake_idp, email="Ada@Acme.Test.")
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(user.pk)
    assert User.objects.count() == 2  # Acme's owner and Ada, no second Ada
