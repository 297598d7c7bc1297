"""Test before save, and the irreversible switch to SSO."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from connections.models import ConnectionCheck
from connections.services.connections import (
    PublishBlocked,
    connection_publish,
    connection_update,
    live_connection_for_org,
)
from organizations.errors import PermissionDenied, ServiceError
from organizations.models import AuditEvent, Organization
from rolemapping.models import GroupRoleMapping, Membership, Role
from tests.conftest import client_for
from tests.connections.conftest import (
    make_connection,
    make_ready,
    passed_check,
)
from tests.factories import make_member, make_user

ISSUER = "https://acme.okta.example"


@pytest.fixture
def connection(owner_membership):
    return make_connection(owner_membership, ISSUER)


@pytest.fixture
def ready(org, owner, connection):
    """A connection whose draft may be published once the owner confirms."""
    make_ready(org, connection, owner)
    passed_check(connection)
    return connection


def publish(membership, connection, confirm="acme"):
    return connection_publish(
        actor_membership=membership, connection=connection, confirm=confirm
    )


def edit(membership, connection, **changes):
    draft = connection.draft
    values = {
        "name": connection.name,
        "issuer_url": draft.issuer_url,
        "client_id": draft.client_id,
        "scopes": draft.scopes,
        "groups_claim": draft.groups_claim,
        "email_claim": draft.email_claim,
        "leeway_seconds": draft.leeway_seconds,
        "idp_logout": draft.idp_logout,
        "provider": connection.provider,
    }
    return connection_update(
        actor_membership=membership, connection=connection, **(values | changes)
    )


def test_publish_succeeds_once_everything_is_ready(org, owner_membership, ready):
    connection = publish(owner_membership, ready)
    org.refresh_from_db()
    assert connection.live_id == connection.draft_id
    assert connection.published_at is not None
    assert connection.health == "passing"
    assert org.sso_enforced and org.sso_enforced_at is not None
    assert live_connection_for_org(org) == connection
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"connection.published", "sso.enforced"} <= actions


def test_publish_is_refused_without_a_check(org, owner, owner_membership, connection):
    make_ready(org, connection, owner)
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, connection)
    assert refused.value.reasons == ("draft_not_tested",)
    connection.refresh_from_db()
    org.refresh_from_db()
    assert connection.live_id is None and not org.sso_enforced


def test_publish_is_refused_with_a_failed_check(
    org, owner, owner_membership, connection
):
    make_ready(org, connection, owner)
    passed_check(connection, status=ConnectionCheck.Status.FAILED)
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, connection)
    assert refused.value.reasons == ("draft_check_failed",)


def test_a_failed_recheck_after_a_pass_also_blocks(org, owner, owner_membership, ready):
    passed_check(ready, status=ConnectionCheck.Status.FAILED)
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert refused.value.reasons == ("draft_check_failed",)


def test_a_running_check_does_not_count(org, owner, owner_membership, connection):
    make_ready(org, connection, owner)
    passed_check(connection, status=ConnectionCheck.Status.RUNNING)
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, connection)
    assert refused.value.reasons == ("draft_not_tested",)


def test_publish_is_refused_after_an_edit_that_followed_a_passing_check(
    org, owner_membership, ready
):
    edit(owner_membership, ready, client_id="another-client")
    ready.refresh_from_db()
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert "draft_changed_since_check" in refused.value.reasons
    assert ready.live_id is None


def test_a_new_secret_alone_needs_a_new_test(org, owner_membership, ready):
    old_draft = ready.draft_id
    edit(owner_membership, ready, client_secret="a-brand-new-secret")
    ready.refresh_from_db()
    assert ready.draft_id != old_draft
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert "draft_changed_since_check" in refused.value.reasons


def test_a_check_whose_fingerprint_differs_from_the_draft_does_not_count(
    org, owner_membership, ready
):
    ConnectionCheck.objects.filter(connection=ready, kind="check").update(
        fingerprint="0" * 64
    )
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert refused.value.reasons == ("draft_changed_since_check",)


def test_saving_an_unchanged_draft_keeps_its_check(org, owner_membership, ready):
    draft = ready.draft_id
    edit(owner_membership, ready)  # empty secret, same values
    ready.refresh_from_db()
    assert ready.draft_id == draft
    assert publish(owner_membership, ready).live_id == draft


def test_publish_is_refused_without_the_typed_confirmation(
    org, owner_membership, ready
):
    for confirm in ("", "yes", "globex", " acme-x "):
        with pytest.raises(ServiceError) as refused:
            publish(owner_membership, ready, confirm=confirm)
        assert refused.value.code == "confirmation_mismatch"
    org.refresh_from_db()
    assert not org.sso_enforced
    # Case and surrounding spaces do not matter.
    assert publish(owner_membership, ready, confirm=" ACME ").live_id


def test_publish_is_refused_for_an_admin(org, ready):
    admin = make_member(org, "admin")
    with pytest.raises(PermissionDenied) as refused:
        publish(admin, ready)
    assert refused.value.code == "role_not_allowed"
    org.refresh_from_db()
    assert not org.sso_enforced


def test_publish_by_a_membership_deactivated_meanwhile_is_refused(
    org, owner_membership, ready
):
    Membership.objects.filter(pk=owner_membership.pk).update(is_active=False)
    with pytest.raises(PermissionDenied) as refused:
        publish(owner_membership, ready)
    assert refused.value.code == "publish_owner_only"
    assert not Organization.objects.get(pk=org.pk).sso_enforced


def test_publish_is_refused_without_a_test_signin_by_the_owner(
    org, owner_membership, connection
):
    passed_check(connection)
    make_ready(org, connection, make_user())  # someone else's test sign-in
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, connection)
    assert refused.value.reasons == ("test_signin_missing",)


def test_a_test_signin_of_an_older_draft_does_not_count(
    org, owner, owner_membership, ready
):
    edit(owner_membership, ready, scopes="openid email groups")
    ready.refresh_from_db()
    passed_check(ready)
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert refused.value.reasons == ("test_signin_missing",)
    passed_check(ready, kind="test_signin", created_by=owner)
    assert publish(owner_membership, ready).live_id == ready.draft_id


def test_publish_is_refused_without_a_verified_domain(org, owner_membership, ready):
    org.domains.update(status="pending")
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert refused.value.reasons == ("domain_not_verified",)


def test_publish_is_refused_without_default_role_or_mapping(
    org, owner_membership, ready
):
    Organization.objects.filter(pk=org.pk).update(default_role="")
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert refused.value.reasons == ("no_role_for_signins",)
    GroupRoleMapping.objects.create(
        organization=org,
        idp_group="Engineering",
        role=Role.objects.get(organization=org, slug="member"),
    )
    assert publish(owner_membership, ready).live_id


def test_refusal_lists_every_missing_prerequisite(org, owner_membership, connection):
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, connection)
    assert refused.value.code == "publish_blocked"
    assert refused.value.reasons == (
        "draft_not_tested",
        "test_signin_missing",
        "domain_not_verified",
        "no_role_for_signins",
    )


def test_later_publishes_need_only_a_passing_check_of_the_new_draft(
    org, owner_membership, ready
):
    publish(owner_membership, ready)
    enforced_at = Organization.objects.get(pk=org.pk).sso_enforced_at
    edit(owner_membership, ready, groups_claim="roles")
    ready.refresh_from_db()
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert refused.value.reasons == ("draft_changed_since_check",)
    # No new test sign-in, domain or mapping checks once SSO is enforced.
    Organization.objects.filter(pk=org.pk).update(default_role="")
    org.domains.all().delete()
    passed_check(ready)
    connection = publish(owner_membership, ready)
    assert connection.live.groups_claim == "roles"
    org.refresh_from_db()
    assert org.sso_enforced and org.sso_enforced_at == enforced_at


def test_publishing_the_live_draft_again_is_refused(org, owner_membership, ready):
    publish(owner_membership, ready)
    with pytest.raises(PublishBlocked) as refused:
        publish(owner_membership, ready)
    assert refused.value.reasons == ("draft_already_live",)


def test_editing_never_touches_the_live_configuration(org, owner_membership, ready):
    live = publish(owner_membership, ready).live
    edit(owner_membership, ready, issuer_url="https://other.okta.example")
    ready.refresh_from_db()
    assert ready.live_id == live.pk
    assert ready.live.issuer_url == ISSUER
    assert ready.draft.issuer_url == "https://other.okta.example"
    assert live_connection_for_org(org).live_id == live.pk


def test_live_connection_is_the_most_recently_published(org, owner, owner_membership):
    assert live_connection_for_org(org) is None
    first = make_connection(owner_membership, ISSUER, name="First")
    second = make_connection(owner_membership, ISSUER, name="Second")
    make_ready(org, first, owner)
    passed_check(first)
    publish(owner_membership, first)
    passed_check(second)
    publish(owner_membership, second)
    assert live_connection_for_org(org) == second


# -- irreversibility: model, service, form, admin ---------------------------------


@pytest.fixture
def enforced(org, owner_membership, ready):
    publish(owner_membership, ready)
    org.refresh_from_db()
    return org


def test_the_model_refuses_to_turn_enforcement_off(enforced):
    enforced.sso_enforced = False
    with pytest.raises(ValidationError):
        enforced.save()
    assert Organization.objects.get(pk=enforced.pk).sso_enforced


def test_no_service_path_turns_enforcement_off(enforced, owner_membership):
    connection = enforced.connections.get()
    edit(owner_membership, connection, client_id="changed")
    connection.refresh_from_db()
    passed_check(connection)
    publish(owner_membership, connection)
    assert Organization.objects.get(pk=enforced.pk).sso_enforced


def test_no_form_field_turns_enforcement_off(enforced, owner_client):
    connection = enforced.connections.get()
    url = reverse("connection_edit", args=["acme", connection.pk])
    owner_client.post(
        url,
        {
            "name": "Okta",
            "issuer_url": ISSUER,
            "client_id": "x",
            "sso_enforced": "",
            "scopes": "openid",
        },
    )
    owner_client.post(
        reverse("connection_publish", args=["acme", connection.pk]),
        {"confirm": "acme", "sso_enforced": "false"},
    )
    assert Organization.objects.get(pk=enforced.pk).sso_enforced


def test_the_admin_cannot_turn_enforcement_off(enforced, client):
    superuser = make_user("root@example.test")
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    client.force_login(superuser)
    url = reverse("admin:organizations_organization_change", args=[enforced.pk])
    response = client.post(url, {"name": enforced.name, "sso_enforced": ""})
    assert response.status_code == 403
    changelist = client.post(
        reverse("admin:organizations_organization_changelist"),
        {"action": "delete_selected", "_selected_action": [enforced.pk]},
    )
    assert changelist.status_code in (200, 302, 403)
    assert Organization.objects.get(pk=enforced.pk).sso_enforced


# -- the pages --------------------------------------------------------------------


def test_publish_page_explains_the_switch_and_requires_the_login_path(
    owner_client, ready
):
    url = reverse("connection_publish", args=["acme", ready.pk])
    body = owner_client.get(url).content.decode()
    assert "cannot be undone" in body
    assert "except you, the owner" in body
    assert "Password sign-in is disabled" in body
    response = owner_client.post(url, {"confirm": "nope"})
    assert response.status_code == 400
    assert "Type the login path" in response.content.decode()
    assert not Organization.objects.get(login_path="acme").sso_enforced
    response = owner_client.post(url, {"confirm": "acme"})
    assert response.status_code == 302
    assert Organization.objects.get(login_path="acme").sso_enforced


def test_publish_page_is_forbidden_to_an_admin(client, org, ready):
    client_for(client, make_member(org, "admin"))
    url = reverse("connection_publish", args=["acme", ready.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirm": "acme"}).status_code == 403
    assert not Organization.objects.get(pk=org.pk).sso_enforced


def test_publish_button_is_disabled_with_the_reason_until_allowed(
    owner_client, org, owner, connection
):
    url = reverse("connection_detail", args=["acme", connection.pk])
    body = owner_client.get(url).content.decode()
    assert 'disabled aria-describedby="publish-blockers"' in body
    assert "has not been tested" in body
    publish_url = reverse("connection_publish", args=["acme", connection.pk])
    assert f'href="{publish_url}"' not in body
    make_ready(org, connection, owner)
    passed_check(connection)
    body = owner_client.get(url).content.decode()
    assert f'href="{publish_url}"' in body
    assert "Configuration tested successfully" in body
    assert "publish-blockers" not in body
