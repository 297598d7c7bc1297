"""Issue 20: the connection pages lead a first-time owner the right way."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connections.models import ConnectionCheck
from connections.services.sso import signin_test_preview
from invitations.services import invitations_create
from tests.conftest import client_for
from tests.connections.conftest import make_connection, make_ready, passed_check
from tests.factories import make_member, make_user

ISSUER = "https://acme.okta.example"


@pytest.fixture
def connection(owner_membership):
    return make_connection(owner_membership, ISSUER)


def failed_test_signin(connection, owner, step: str, reason: str) -> ConnectionCheck:
    return passed_check(
        connection,
        kind=ConnectionCheck.Kind.TEST_SIGNIN,
        status=ConnectionCheck.Status.FAILED,
        created_by=owner,
        result={"claims": [], "groups": [], "step": step, "reason": reason},
    )


def check_page(client, connection, check):
    return client.get(
        reverse("check_detail", args=["acme", connection.pk, check.pk])
    ).content.decode()


def test_a_role_step_failure_links_to_role_mapping_not_to_the_draft(
    owner_client, owner, connection
):
    check = failed_test_signin(connection, owner, "role", "No mapping matched.")
    body = check_page(owner_client, connection, check)
    assert f'href="{reverse("mappings", args=["acme"])}"' in body
    assert "Role mapping" in body
    assert "edit the draft" not in body


def test_a_token_step_failure_still_says_to_edit_the_draft(
    owner_client, owner, connection
):
    check = failed_test_signin(connection, owner, "signature", "Bad signature.")
    body = check_page(owner_client, connection, check)
    assert "edit the draft" in body


def test_test_signin_sits_in_the_test_and_publish_card(owner_client, connection):
    body = owner_client.get(
        reverse("connection_detail", args=["acme", connection.pk])
    ).content.decode()
    card = body.split('id="publish-title"')[1].split("</section>")[0]
    assert "Test sign-in with the draft" in card
    assert reverse("connection_test_signin", args=["acme", connection.pk]) in card


def test_test_signins_appear_in_the_check_history(owner_client, owner, connection):
    passed_check(connection, kind=ConnectionCheck.Kind.TEST_SIGNIN, created_by=owner)
    body = owner_client.get(
        reverse("connection_detail", args=["acme", connection.pk])
    ).content.decode()
    history = body.split('id="history-title"')[1].split("</section>")[0]
    assert "Test sign-in" in history
    assert "No checks yet" not in history


def test_the_checklist_has_the_test_signin_step_done_after_the_owners_test(
    owner_client, owner, connection
):
    url = reverse("org_overview", args=["acme"])
    before = owner_client.get(url).content.decode()
    assert "Test sign-in with the draft" in before
    passed_check(connection, kind=ConnectionCheck.Kind.TEST_SIGNIN, created_by=owner)
    after = owner_client.get(url).content.decode()
    item = after.split("Test sign-in with the draft")[0].rsplit("<li", 1)[1]
    assert 'class="done"' in item


def test_the_publish_page_lists_password_members_and_pending_invitations(
    org, owner, owner_membership, owner_client, connection
):
    make_ready(org, connection, owner)
    passed_check(connection)
    make_member(org, "admin", user=make_user("pat@acme.test"))
    sso_only = make_user("sam@acme.test")
    sso_only.set_unusable_password()
    sso_only.save()
    make_member(org, "member", user=sso_only)
    invitations_create(
        actor_membership=owner_membership,
        emails="new@acme.test",
        role_slug="member",
    )
    body = owner_client.get(
        reverse("connection_publish", args=["acme", connection.pk])
    ).content.decode()
    who = body.split('id="who-title"')[1].split("</section>")[0]
    assert "pat@acme.test" in who
    assert "1 member whose password stops working" in who
    assert "sam@acme.test" not in who  # no password to lose
    assert owner.email not in who  # the owner keeps theirs
    assert "new@acme.test" in who
    assert "1 pending invitation" in who


def test_token_times_in_a_test_signin_are_dates(org, connection):
    connection.refresh_from_db()
    result = signin_test_preview(
        organization=org,
        connection=connection,
        config=connection.draft,
        claims={
            "sub": "1",
            "iss": ISSUER,
            "aud": "console-app",
            "email": "a@acme.test",
            "email_verified": True,
            "iat": 1796243465,
            "exp": 1796247065,
        },
    )
    values = {c["name"]: c["value"] for c in result["claims"]}
    assert values["iat"] == "2026-12-02 20:31:05 UTC (1796243465)"
    assert values["exp"].startswith("2026-12-02 21:31:05 UTC")
    assert values["sub"] == "1"


def test_an_admin_sees_test_signins_in_the_history_without_a_link(
    org, owner, connection, client
):
    check = passed_check(
        connection, kind=ConnectionCheck.Kind.TEST_SIGNIN, created_by=owner
    )
    admin = make_member(org, "admin")
    body = (
        client_for(client, admin)
        .get(reverse("connection_detail", args=["acme", connection.pk]))
        .content.decode()
    )
    history = body.split('id="history-title"')[1].split("</section>")[0]
    assert "Test sign-in" in history
    assert reverse("check_detail", args=["acme", connection.pk, check.pk]) not in body
