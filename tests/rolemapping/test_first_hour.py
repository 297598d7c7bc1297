"""Issue 20: a role from an invitation says so, and checkboxes sit by their labels."""

import re

from django.urls import reverse

from organizations.models import AuditEvent, Organization
from rolemapping.services import decision_for_signin, membership_sync
from tests.factories import make_user


def decide(org, groups):
    org = Organization.objects.get(pk=org.pk)
    claims = {"sub": "s1", "email": "x@acme.test", "groups": groups}
    return decision_for_signin(organization=org, claims=claims, groups_claim="groups")


def test_a_role_from_the_invitation_is_audited_with_the_invitations_reason(
    org, map_group
):
    map_group(org, "Admins", "admin")
    Organization.objects.filter(pk=org.pk).update(default_role="viewer")
    membership_sync(
        organization=org,
        user=make_user("dev@acme.test"),
        decision=decide(org, ["Sales"]),
        invited_role="member",
    )
    event = AuditEvent.objects.get(organization=org, action="membership.provisioned")
    assert event.details["role"] == "member"
    assert event.details["reason_code"] == "invitation_role"
    assert "invitation" in event.details["reason"]
    assert "default role" not in event.details["reason"]


def test_a_mapped_group_still_gives_the_mappings_reason(org, map_group):
    map_group(org, "Admins", "admin")
    membership_sync(
        organization=org,
        user=make_user("dev@acme.test"),
        decision=decide(org, ["Admins"]),
        invited_role="member",
    )
    event = AuditEvent.objects.get(organization=org, action="membership.provisioned")
    assert event.details["role"] == "admin"
    assert event.details["reason_code"] != "invitation_role"


def test_each_checkbox_comes_before_its_own_label(owner_client, org):
    body = owner_client.get(reverse("mappings", args=["acme"])).content.decode()
    boxes = re.findall(r'<input type="checkbox" name="(\w+)"[^>]*id="(\w+)"', body)
    assert boxes, "the settings form has checkboxes"
    for _name, box_id in boxes:
        after = body.split(f'id="{box_id}"', 1)[1]
        assert re.match(rf'[^>]*>\s*<label for="{box_id}">', after), (
            f"{box_id}'s label does not follow it"
        )
        field = body.split(f'id="{box_id}"', 1)[0].rsplit("<div", 1)[1]
        assert "field-check" in field
