"""Issue 20: an invitation never makes, unannounced, a password account that
the switch to SSO disables."""

import pytest
from django.urls import reverse

from accounts.models import User
from connections.models import ConnectionCheck
from invitations.services import invitation_accept_with_password
from organizations.errors import ServiceError
from tests.connections.conftest import make_connection, passed_check


def accept_url(token):
    return reverse("invitation_accept", args=[token])


@pytest.fixture
def tested(owner_membership):
    connection = make_connection(owner_membership, "https://acme.okta.example")
    passed_check(connection)
    return connection


@pytest.fixture
def owner_membership(org):
    from rolemapping.models import Membership

    return Membership.objects.get(organization=org, user=org.owner)


def test_before_any_tested_connection_the_page_says_what_the_switch_does(
    client, org, issue
):
    _invitation, token = issue(org, "dev@acme.test")
    body = client.get(accept_url(token)).content.decode()
    assert 'name="password1"' in body
    assert "If it switches to it, the password you choose here stops working" in body


def test_with_a_tested_connection_no_password_account_is_offered(
    client, org, issue, tested, password
):
    _invitation, token = issue(org, "dev@acme.test")
    page = client.get(accept_url(token))
    body = page.content.decode()
    assert page.status_code == 200
    assert 'name="password1"' not in body
    assert "switching to single sign-on" in body
    assert "identity provider" in body

    client.post(accept_url(token), {"password1": password, "password2": password})
    assert not User.objects.filter(email="dev@acme.test").exists()


def test_the_service_refuses_a_password_account_once_a_connection_passed(
    org, issue, tested, password
):
    _invitation, token = issue(org, "dev@acme.test")
    with pytest.raises(ServiceError) as refused:
        invitation_accept_with_password(token=token, password=password)
    assert refused.value.code == "sso_coming"


def test_a_failed_check_does_not_count_as_tested(client, org, issue, owner_membership):
    connection = make_connection(owner_membership, "https://acme.okta.example")
    passed_check(connection, status=ConnectionCheck.Status.FAILED)
    _invitation, token = issue(org, "dev@acme.test")
    assert 'name="password1"' in client.get(accept_url(token)).content.decode()


def test_the_invitations_page_says_what_the_switch_does_to_invitees(owner_client, org):
    url = reverse("invitation_list", args=["acme"])
    body = owner_client.get(url).content.decode()
    assert "switching to single sign-on later disables it" in body


def test_the_checklist_puts_inviting_after_the_switch(owner_client, org):
    body = owner_client.get(reverse("org_overview", args=["acme"])).content.decode()
    assert body.index("Enforce SSO") < body.index("Invite people")
