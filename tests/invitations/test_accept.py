"""Opening an invitation link: SSO when it is live, a password account before."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import NoReverseMatch, reverse

from accounts.models import User
from invitations.models import Invitation
from invitations.services import invitation_accept_with_password
from organizations.errors import ServiceError
from organizations.models import AuditEvent
from rolemapping.models import Membership
from tests.factories import make_member, make_user


def accept_url(token):
    return reverse("invitation_accept", args=[token])


def test_before_sso_the_link_creates_a_password_account(client, org, issue, password):
    invitation, token = issue(org, "dev@acme.test", role="viewer")
    page = client.get(accept_url(token))
    assert page.status_code == 200
    html = page.content.decode()
    assert "dev@acme.test" in html and "Acme Inc" in html and "Viewer" in html

    response = client.post(
        accept_url(token),
        {"name": "Dev One", "password1": password, "password2": password},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("org_overview", args=["acme"])
    user = User.objects.get(email="dev@acme.test")
    assert user.name == "Dev One" and user.check_password(password)
    membership = Membership.objects.get(user=user, organization=org)
    assert membership.role.slug == "viewer"
    assert membership.source == Membership.Source.INVITATION
    assert membership.managed_by_idp is False
    invitation.refresh_from_db()
    assert invitation.state == "accepted" and invitation.accepted_by == user
    assert set(
        AuditEvent.objects.filter(organization=org, actor=user).values_list(
            "action", flat=True
        )
    ) == {"user.signed_up", "membership.created", "invitation.accepted"}
    me = client.get(reverse("me")).json()
    assert me["memberships"] == [
        {"org": "acme", "role": "viewer", "source": "invitation"}
    ]


def test_mismatched_passwords_keep_the_invitation_open(client, org, issue, password):
    invitation, token = issue(org, "dev@acme.test")
    response = client.post(
        accept_url(token), {"password1": password, "password2": password + "x"}
    )
    # 200, not 400: Django logs the path of a 4xx, and it holds a live token.
    assert response.status_code == 200
    assert "The two passwords differ" in response.content.decode()
    assert not User.objects.filter(email="dev@acme.test").exists()
    invitation.refresh_from_db()
    assert invitation.state == "pending"


def test_a_weak_password_is_refused(client, org, issue):
    _, token = issue(org, "dev@acme.test")
    response = client.post(accept_url(token), {"password1": "123", "password2": "123"})
    assert "too short" in response.content.decode()
    assert not User.objects.filter(email="dev@acme.test").exists()


def test_an_existing_account_is_asked_to_sign_in_first(client, org, issue, password):
    make_user("dev@acme.test")
    _, token = issue(org, "dev@acme.test")
    html = client.get(accept_url(token)).content.decode()
    assert "already exists" in html
    assert f"next=%2Finvitations%2F{token}%2F" in html
    client.post(accept_url(token), {"password1": password, "password2": password})
    assert not Membership.objects.filter(user__email="dev@acme.test").exists()


def test_a_signed_in_user_with_the_same_email_joins(client, org, issue):
    user = make_user("Dev@acme.test")
    invitation, token = issue(org, "dev@acme.test", role="admin")
    client.force_login(user)
    assert "Join Acme Inc" in client.get(accept_url(token)).content.decode()

    response = client.post(accept_url(token))

    assert response.status_code == 302
    membership = Membership.objects.get(user=user, organization=org)
    assert membership.role.slug == "admin"
    invitation.refresh_from_db()
    assert invitation.accepted_by == user


def test_a_deactivated_member_is_reactivated_with_the_invitation_role(
    client, org, issue
):
    old = make_member(org, "viewer", user=make_user("dev@acme.test"), is_active=False)
    _, token = issue(org, "dev@acme.test", role="member")
    client.force_login(old.user)
    client.post(accept_url(token))
    old.refresh_from_db()
    assert old.is_active and old.role.slug == "member"
    assert AuditEvent.objects.filter(action="membership.reactivated").exists()


def test_a_signed_in_user_with_another_email_is_told_the_expected_address(
    client, org, issue
):
    other = make_user("someone@acme.test")
    invitation, token = issue(org, "dev@acme.test")
    client.force_login(other)
    html = client.get(accept_url(token)).content.decode()
    assert "This invitation is for dev@acme.test" in html
    assert "someone@acme.test" in html

    client.post(accept_url(token))
    assert not Membership.objects.filter(user=other, organization=org).exists()
    invitation.refresh_from_db()
    assert invitation.state == "pending"


def sso_login_path(login_path):
    try:
        return reverse("sso_login", args=[login_path])
    except NoReverseMatch:
        return f"/sso/login/{login_path}/"


@pytest.mark.parametrize("method", ["get", "post"])
def test_with_sso_live_the_link_starts_sso_with_a_login_hint(
    client, org, issue, live_connection, method
):
    invitation, token = issue(org, "dev@acme.test")

    response = getattr(client, method)(accept_url(token))

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == sso_login_path("acme")
    assert parse_qs(location.query) == {"login_hint": ["dev@acme.test"]}
    assert client.session["pending_invitation_id"] == invitation.pk
    invitation.refresh_from_db()
    assert invitation.state == "pending"
    assert not User.objects.filter(email="dev@acme.test").exists()


def test_with_sso_live_no_password_account_is_created(
    org, issue, live_connection, password
):
    _, token = issue(org, "dev@acme.test")
    with pytest.raises(ServiceError) as refused:
        invitation_accept_with_password(token=token, password=password)
    assert refused.value.code == "sso_live"
    assert not User.objects.filter(email="dev@acme.test").exists()


def test_the_accept_page_is_not_cached(client, org, issue):
    _, token = issue(org, "dev@acme.test")
    response = client.get(accept_url(token))
    assert (
        "no-store" in response["Cache-Control"]
        or "no-cache" in (response["Cache-Control"])
    )


def test_an_invitation_row_never_renders_its_hash(owner_client, org, issue):
    invitation, _ = issue(org, "dev@acme.test")
    html = owner_client.get(reverse("invitation_list", args=["acme"])).content
    assert invitation.token_hash.encode() not in html
    data = owner_client.get(
        reverse("invitation_list", args=["acme"]), HTTP_ACCEPT="application/json"
    ).content
    assert invitation.token_hash.encode() not in data
    assert Invitation.objects.count() == 1


def test_a_name_with_a_line_break_is_refused_and_the_invitation_stays_open(
    client, org, issue, password
):
    invitation, token = issue(org, "dev@acme.test")
    response = client.post(
        accept_url(token),
        {
            "name": "Dev\r\nBcc: x@evil.test",
            "password1": password,
            "password2": password,
        },
    )
    assert response.status_code == 200
    assert "one line" in response.content.decode()
    assert not User.objects.filter(email="dev@acme.test").exists()
    invitation.refresh_from_db()
    assert invitation.state == "pending"
