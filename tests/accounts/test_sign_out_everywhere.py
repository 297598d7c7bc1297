"""'Sign out everywhere' on the members page: an owner (or an admin, for
members below admin) ends every session of a member that reaches this
organization, after a confirmation, audited."""

from __future__ import annotations

import pytest
from django.test import Client

from organizations.models import AuditEvent
from tests.factories import make_member, make_user

pytestmark = pytest.mark.django_db

PASSWORD_BACKEND = "accounts.backends.EmailPasswordBackend"


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user, backend=PASSWORD_BACKEND)
    return client


def signed_in(client: Client) -> bool:
    return (
        client.get("/accounts/me/", HTTP_ACCEPT="application/json").status_code == 200
    )


def url(org, membership) -> str:
    return f"/orgs/{org.login_path}/members/{membership.pk}/sign-out/"


@pytest.fixture
def ada(org):
    return make_member(org, user=make_user("ada@acme.test"))


def test_the_members_page_offers_it_to_owners(owner_client, org, ada):
    page = owner_client.get(f"/orgs/{org.login_path}/members/").content.decode()
    assert url(org, ada) in page


def test_the_confirmation_says_how_many_sessions(owner_client, org, ada):
    signed_in_client(ada.user), signed_in_client(ada.user)

    response = owner_client.get(url(org, ada))

    assert response.status_code == 200
    page = response.content.decode()
    assert "ada@acme.test" in page
    assert "2 sessions" in page
    assert 'method="post"' in page
    assert not AuditEvent.objects.filter(
        action="membership.signed_out_everywhere"
    ).exists()


def test_the_owner_signs_a_member_out_everywhere(owner_client, org, owner, ada):
    laptop, phone = signed_in_client(ada.user), signed_in_client(ada.user)
    bystander = signed_in_client(make_member(org).user)

    response = owner_client.post(url(org, ada), follow=True)

    assert response.redirect_chain[-1][0] == f"/orgs/{org.login_path}/members/"
    assert "ada@acme.test was signed out of 2 sessions." in response.content.decode()
    assert not signed_in(laptop) and not signed_in(phone)
    assert signed_in(bystander) and signed_in(owner_client)
    event = AuditEvent.objects.get(action="membership.signed_out_everywhere")
    assert (event.actor_id, event.target) == (owner.pk, "ada@acme.test")
    assert event.organization_id == org.pk
    assert event.details == {"sessions_ended": 2}


def test_the_answer_in_json_counts_the_sessions(owner_client, org, ada):
    signed_in_client(ada.user)
    response = owner_client.post(url(org, ada), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == {"sessions_ended": 1}


def test_sessions_that_never_reached_this_organization_stay(
    owner_client, org, other_org
):
    user = make_user("ada@acme.test")
    make_member(other_org, user=user)
    elsewhere = signed_in_client(user)  # reaches Globex only
    membership = make_member(org, user=user)
    here = signed_in_client(user)  # reaches both: ends as a whole

    response = owner_client.post(url(org, membership), HTTP_ACCEPT="application/json")

    assert response.json() == {"sessions_ended": 1}
    assert not signed_in(here)
    assert signed_in(elsewhere)


def test_a_member_of_another_organization_is_not_found(owner_client, org, other_org):
    stranger = make_member(other_org, user=make_user("eve@globex.test"))
    session = signed_in_client(stranger.user)

    assert owner_client.get(url(org, stranger)).status_code == 404
    assert owner_client.post(url(org, stranger)).status_code == 404
    assert signed_in(session)
    assert not AuditEvent.objects.filter(
        action="membership.signed_out_everywhere"
    ).exists()


def test_an_admin_signs_out_members_but_not_admins_or_the_owner(org, owner, ada):
    admin = make_member(org, role="admin", user=make_user("root@acme.test"))
    other_admin = make_member(org, role="admin")
    admin_client = signed_in_client(admin.user)
    owner_session = signed_in_client(owner)
    other_admin_session = signed_in_client(other_admin.user)
    ada_session = signed_in_client(ada.user)
    owner_membership = org.memberships.get(user=owner)

    for target in (owner_membership, other_admin):
        response = admin_client.post(url(org, target), HTTP_ACCEPT="application/json")
        assert response.status_code == 403
        assert response.json()["code"] == "sign_out_owner_only"
    assert signed_in(owner_session) and signed_in(other_admin_session)

    response = admin_client.post(url(org, ada), HTTP_ACCEPT="application/json")
    assert response.json() == {"sessions_ended": 1}
    assert not signed_in(ada_session)


def test_the_owner_signs_out_an_admin(owner_client, org):
    admin = make_member(org, role="admin")
    session = signed_in_client(admin.user)
    response = owner_client.post(url(org, admin), HTTP_ACCEPT="application/json")
    assert response.json() == {"sessions_ended": 1}
    assert not signed_in(session)


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_below_admin_cannot(org, ada, role):
    actor = make_member(org, role=role)
    session = signed_in_client(ada.user)
    client = signed_in_client(actor.user)

    assert client.get(url(org, ada)).status_code == 403
    assert client.post(url(org, ada)).status_code == 403
    assert signed_in(session)


def test_it_needs_the_csrf_token(org, owner, ada):
    session = signed_in_client(ada.user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner, backend=PASSWORD_BACKEND)

    assert client.post(url(org, ada)).status_code == 403
    assert signed_in(session)


def test_anonymous_people_are_sent_to_sign_in(client, org, ada):
    session = signed_in_client(ada.user)
    response = client.post(url(org, ada))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert signed_in(session)
