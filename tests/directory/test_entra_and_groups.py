"""Entra ID's operation shapes, and SCIM groups becoming roles through the
organization's group mappings with the sign-in's rules."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.urls import reverse

from directory.models import ScimGroup, ScimUser
from organizations.models import AuditEvent, Organization
from rolemapping.models import GroupRoleMapping, Membership, Role
from tests.directory.conftest import DOMAIN, user_body

pytestmark = pytest.mark.django_db

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def patch(*operations):
    return {"schemas": [PATCH], "Operations": list(operations)}


def entra_user(email: str) -> dict:
    """The body Entra ID's provisioning service POSTs."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": email.split("@")[0],
        "userName": email,
        "active": True,
        "displayName": "Ada Lovelace",
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "Ada Lovelace",
            "familyName": "Lovelace",
            "givenName": "Ada",
        },
        "roles": [],
        ENTERPRISE: {"department": "Engineering", "employeeNumber": "42"},
    }


def map_group(org, group: str, role: str) -> None:
    GroupRoleMapping.objects.create(
        organization=org,
        idp_group=group,
        role=Role.objects.get(organization=org, slug=role),
    )


def role_of(email: str) -> str:
    return Membership.objects.select_related("role").get(user__email=email).role.slug


def test_entra_creates_users_with_the_enterprise_extension(scim):
    response = scim.post("Users", entra_user(f"ada@{DOMAIN}"))

    assert response.status_code == 201
    assert response.json()["externalId"] == "ada"


def test_entra_patches_with_capitalised_ops_paths_and_string_booleans(scim):
    scim_id = scim.post("Users", entra_user(f"ada@{DOMAIN}")).json()["id"]

    response = scim.patch(
        f"Users/{scim_id}",
        patch(
            {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": f"ada@{DOMAIN}",
            },
            {"op": "Add", "path": "displayName", "value": "Augusta Ada King"},
            {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Maths"},
            {"op": "Replace", "path": "active", "value": "False"},
        ),
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"]["givenName"] == "Augusta"
    assert body["displayName"] == "Augusta Ada King"
    assert body["active"] is False
    row = ScimUser.objects.get(pk=scim_id)
    assert (row.given_name, row.active) == ("Augusta", False)
    assert Membership.objects.get(user__email=f"ada@{DOMAIN}").is_active is False

    response = scim.patch(
        f"Users/{scim_id}", patch({"op": "Replace", "path": "active", "value": "True"})
    )
    assert response.json()["active"] is True
    assert Membership.objects.get(user__email=f"ada@{DOMAIN}").is_active is True


def test_entra_checks_for_a_user_by_external_id_and_deletes(scim):
    scim_id = scim.post("Users", entra_user(f"ada@{DOMAIN}")).json()["id"]

    found = scim.get("Users?filter=" + quote('externalId eq "ada"')).json()
    assert [r["id"] for r in found["Resources"]] == [scim_id]

    assert scim.delete(f"Users/{scim_id}").status_code == 204
    assert Membership.objects.get(user__email=f"ada@{DOMAIN}").is_active is False


def test_group_membership_decides_the_role_through_the_mappings(scim, org):
    map_group(org, "Engineering", "member")
    map_group(org, "Admins", "admin")
    ada = scim.post("Users", entra_user(f"ada@{DOMAIN}")).json()["id"]
    bob = scim.post("Users", entra_user(f"bob@{DOMAIN}")).json()["id"]
    # Everyone starts at the default role (member: see the token fixture).
    Organization.objects.filter(pk=org.pk).update(default_role="viewer")
    admins = scim.post(
        "Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Admins",
            "externalId": "8c2f-admins",
            "members": [],
        },
    ).json()

    response = scim.patch(
        f"Groups/{admins['id']}",
        patch(
            {
                "op": "Add",
                "path": "members",
                "value": [{"value": ada}, {"value": bob}],
            }
        ),
    )
    assert response.status_code == 204
    assert role_of(f"ada@{DOMAIN}") == "admin" and role_of(f"bob@{DOMAIN}") == "admin"

    # Entra removes only the members it lists.
    response = scim.patch(
        f"Groups/{admins['id']}",
        patch({"op": "Remove", "path": "members", "value": [{"value": ada}]}),
    )
    assert response.status_code == 204
    assert list(ScimGroup.objects.get(pk=admins["id"]).members.all()) == [
        ScimUser.objects.get(pk=bob)
    ]
    assert role_of(f"ada@{DOMAIN}") == "viewer"  # the default role now
    assert role_of(f"bob@{DOMAIN}") == "admin"
    event = AuditEvent.objects.filter(action="membership.role_changed").first()
    assert event is not None and event.details["by"] == "directory"


def test_okta_group_push_renames_and_removes_members_by_filter(scim, org):
    map_group(org, "Admins", "admin")
    ada = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()["id"]
    group = scim.post(
        "Groups", {"displayName": "Staff", "members": [{"value": ada}]}
    ).json()
    assert role_of(f"ada@{DOMAIN}") == "member"

    scim.patch(
        f"Groups/{group['id']}",
        patch({"op": "replace", "value": {"id": group["id"], "displayName": "Admins"}}),
    )
    assert role_of(f"ada@{DOMAIN}") == "admin"

    scim.patch(
        f"Groups/{group['id']}",
        patch({"op": "remove", "path": f'members[value eq "{ada}"]'}),
    )
    assert role_of(f"ada@{DOMAIN}") == "member"


def test_only_mapped_groups_refuses_a_user_outside_them_as_sign_in_would(scim, org):
    map_group(org, "Engineering", "member")
    Organization.objects.filter(pk=org.pk).update(only_mapped_groups=True)

    ada = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()["id"]
    assert not Membership.objects.filter(user__email=f"ada@{DOMAIN}").exists()

    group = scim.post(
        "Groups", {"displayName": "Engineering", "members": [{"value": ada}]}
    ).json()
    assert role_of(f"ada@{DOMAIN}") == "member"

    assert scim.delete(f"Groups/{group['id']}").status_code == 204
    membership = Membership.objects.get(user__email=f"ada@{DOMAIN}")
    assert membership.is_active is False and not membership.directory_suspended


def test_a_group_maps_by_its_external_id_too(scim, org):
    map_group(org, "8c2f-admins", "admin")  # Entra's groups claim: object ids
    ada = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()["id"]

    scim.post(
        "Groups",
        {
            "displayName": "Admins",
            "externalId": "8c2f-admins",
            "members": [{"value": ada}],
        },
    )

    assert role_of(f"ada@{DOMAIN}") == "admin"


def test_groups_list_filter_and_excluded_members(scim):
    ada = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()["id"]
    created = scim.post(
        "Groups", {"displayName": "Eng", "members": [{"value": ada}]}
    ).json()
    scim.post("Groups", {"displayName": "Sales"})

    listing = scim.get(
        "Groups?filter=" + quote('displayName eq "Eng"') + "&excludedAttributes=members"
    ).json()
    one = scim.get(f"Groups/{created['id']}").json()
    bare = scim.get(f"Groups/{created['id']}?excludedAttributes=members").json()

    assert listing["totalResults"] == 1
    assert "members" not in listing["Resources"][0]
    assert one["members"] == [
        {
            "value": ada,
            "display": f"ada@{DOMAIN}",
            "type": "User",
            "$ref": f"http://testserver/scim/v2/acme/Users/{ada}",
        }
    ]
    assert "members" not in bare
    assert scim.get("Groups").json()["totalResults"] == 2


def test_a_duplicate_group_name_is_a_uniqueness_conflict(scim):
    scim.post("Groups", {"displayName": "Eng"})

    response = scim.post("Groups", {"displayName": "Eng"})

    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"


def test_put_replaces_a_groups_members(scim, org):
    map_group(org, "Admins", "admin")
    ada = scim.post("Users", user_body(f"ada@{DOMAIN}")).json()["id"]
    bob = scim.post("Users", user_body(f"bob@{DOMAIN}")).json()["id"]
    group = scim.post(
        "Groups", {"displayName": "Admins", "members": [{"value": ada}]}
    ).json()

    response = scim.put(
        f"Groups/{group['id']}",
        {"displayName": "Admins", "members": [{"value": bob}, {"value": "nobody"}]},
    )

    assert response.status_code == 200
    assert [m["value"] for m in response.json()["members"]] == [bob]
    assert role_of(f"ada@{DOMAIN}") == "member"
    assert role_of(f"bob@{DOMAIN}") == "admin"


def test_directory_managed_members_are_locked_from_manual_role_edits(
    scim, org, owner_client
):
    scim.post("Users", user_body(f"ada@{DOMAIN}"))
    membership = Membership.objects.get(user__email=f"ada@{DOMAIN}")

    response = owner_client.post(
        reverse("member_role", args=["acme", membership.pk]),
        {"role": "admin"},
        follow=True,
    )

    assert "managed by your user directory" in response.content.decode()
    assert role_of(f"ada@{DOMAIN}") == "member"
    page = owner_client.get(reverse("member_list", args=["acme"])).content.decode()
    assert "Set by directory groups" in page
    data = owner_client.get(
        reverse("member_list", args=["acme"]), HTTP_ACCEPT="application/json"
    ).json()
    assert {m["email"]: m["managed_by_directory"] for m in data}[f"ada@{DOMAIN}"]


def test_leaving_the_last_mapped_group_ends_the_persons_sessions(scim, org):
    from django.test import Client

    from tests.factories import PASSWORD, make_member, make_user

    map_group(org, "Engineering", "member")
    Organization.objects.filter(pk=org.pk).update(only_mapped_groups=True)
    email = f"ada@{DOMAIN}"
    make_member(org, user=make_user(email))
    ada = scim.post("Users", user_body(email)).json()["id"]
    group = scim.post(
        "Groups", {"displayName": "Engineering", "members": [{"value": ada}]}
    ).json()
    browser = Client()
    browser.post(reverse("login"), {"username": email, "password": PASSWORD})
    assert browser.get(reverse("me"), HTTP_ACCEPT="application/json").status_code == 200

    scim.patch(
        f"Groups/{group['id']}",
        patch({"op": "Remove", "path": "members", "value": [{"value": ada}]}),
    )

    assert browser.get(reverse("me"), HTTP_ACCEPT="application/json").status_code == 401
    membership = Membership.objects.get(user__email=email)
    assert membership.is_active is False and not membership.directory_suspended


def test_provisioning_an_existing_member_before_their_groups_keeps_their_access(
    scim, org
):
    from tests.factories import make_member, make_user

    map_group(org, "Engineering", "member")
    Organization.objects.filter(pk=org.pk).update(only_mapped_groups=True)
    email = f"ada@{DOMAIN}"
    make_member(org, user=make_user(email))

    ada = scim.post("Users", user_body(email)).json()["id"]

    assert Membership.objects.get(user__email=email).is_active is True
    # Their groups arrive: in no mapped one, they lose access as at sign-in.
    scim.post("Groups", {"displayName": "Sales", "members": [{"value": ada}]})
    assert Membership.objects.get(user__email=email).is_active is False
