"""Issue 20: the audit log reads as text, never as Python values."""

from django.urls import reverse

from organizations.services import audit
from organizations.templatetags.audit_text import audit_action, audit_details


def test_the_audit_page_shows_settings_changes_as_words(owner_client, org):
    audit(
        action="provisioning.settings_changed",
        organization=org,
        actor=org.owner,
        target="acme",
        details={
            "before": {"default_role": None, "invitation_only": False},
            "after": {"default_role": "member", "invitation_only": True},
        },
    )
    body = owner_client.get(reverse("audit_log", args=["acme"])).content.decode()
    assert "Provisioning settings changed" in body
    assert "default role: none → member" in body
    assert "invitation only: no → yes" in body
    for python in ("{&#x27;", "{'", "None", "True", "False"):
        assert python not in body.split("<main")[1]


def test_nested_values_and_unknown_actions_are_words():
    assert audit_action("something.brand_new") == "Something brand new"
    assert audit_details({"groups": ["a", "b"], "by": "idp", "x": None}) == [
        ("groups", "a, b"),
        ("by", "the identity provider"),
        ("x", "none"),
    ]
    assert audit_details({"before": "member", "after": "admin"}) == [
        ("change", "member → admin")
    ]
