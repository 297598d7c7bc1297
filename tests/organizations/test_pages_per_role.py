"""Issue 20: owners and admins get the checklist and the management pages;
members and viewers a home with their organizations, role and its source,
and nothing they cannot use."""

import pytest
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import make_member, make_org, make_user

CONSOLE_PAGES = (
    "domain_list",
    "connection_list",
    "mappings",
    "invitation_list",
    "member_list",
    "audit_log",
)


def nav_of(body: str) -> str:
    return body.split('<nav class="sidenav"')[1].split("</nav>")[0]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_get_a_home_not_the_checklist(client, org, role):
    client_for(client, make_member(org, role))
    body = client.get(reverse("org_overview", args=["acme"])).content.decode()
    assert "Set-up checklist" not in body
    assert "Your organizations" in body
    assert f"You are a <strong>{role.capitalize()}</strong> of Acme Inc" in body
    nav = nav_of(body)
    for name in CONSOLE_PAGES:
        assert reverse(name, args=["acme"]) not in nav


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_their_forbidden_pages_answer_403_with_a_sentence(client, org, role):
    client_for(client, make_member(org, role))
    for name in CONSOLE_PAGES:
        response = client.get(reverse(name, args=["acme"]))
        assert response.status_code == 403, name
        assert "does not allow this" in response.content.decode()


def test_admins_get_the_checklist_and_the_management_pages(client, org):
    client_for(client, make_member(org, "admin"))
    body = client.get(reverse("org_overview", args=["acme"])).content.decode()
    assert "Set-up checklist" in body
    nav = nav_of(body)
    for name in CONSOLE_PAGES:
        assert reverse(name, args=["acme"]) in nav
        assert client.get(reverse(name, args=["acme"])).status_code == 200


def test_the_home_lists_every_organization_with_where_each_role_came_from(client, org):
    user = make_user("pat@acme.test")
    make_member(org, "viewer", user=user, source="invitation", invited_role="viewer")
    globex = make_org("globex", name="Globex")
    make_member(
        globex,
        "member",
        user=user,
        source="sso",
        managed_by_idp=True,
        idp_groups=["Engineering"],
    )
    client.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    body = client.get(reverse("org_overview", args=["acme"])).content.decode()
    table = body.split('id="orgs-title"')[1].split("</table>")[0]
    assert "Acme Inc" in table and "Globex" in table
    assert "Your invitation." in table
    assert "Your identity provider: your groups at your last sign-in (Engineering)" in (
        table
    )


def test_the_site_root_takes_a_member_to_their_home(client, org):
    client_for(client, make_member(org, "member"))
    response = client.get("/", follow=True)
    assert "Your organizations" in response.content.decode()


def test_the_overview_leads_with_the_next_step(owner_client, org):
    from domains.models import Domain

    body = owner_client.get(reverse("org_overview", args=["acme"])).content.decode()
    assert "Next step: Verify an email domain" in body
    Domain.objects.create(
        organization=org, name="acme.test", token="t", status="verified"
    )
    body = owner_client.get(reverse("org_overview", args=["acme"])).content.decode()
    assert "Next step: Add an SSO connection" in body
    assert f'href="{reverse("connection_list", args=["acme"])}"' in body


def test_json_clients_get_the_refusal_as_json(client, org):
    client_for(client, make_member(org, "viewer"))
    response = client.get(
        reverse("member_list", args=["acme"]), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"
    assert "does not allow this" in response.json()["error"]


def test_an_admins_checklist_says_which_steps_are_the_owners(client, org):
    client_for(client, make_member(org, "admin"))
    body = client.get(reverse("org_overview", args=["acme"])).content.decode()
    checklist = body.split('id="checklist-title"')[1]
    domain_step = checklist.split("Verify an email domain")[1].split("</li>")[0]
    mapping_step = checklist.split("Map IdP groups to roles")[1].split("</li>")[0]
    assert "The owner does this step." in domain_step
    assert "The owner does this step." not in mapping_step
