"""The Django admin for support staff: connections are read-only, a check and a
publish are audited actions with the console's rules, and no page shows a
client secret."""

from __future__ import annotations

import itertools
import re

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.html import escape

from connections.models import (
    Connection,
    ConnectionCheck,
    ConnectionConfig,
    SignInEvent,
    SsoIdentity,
)
from connections.services.checks import connection_check_start_as_support
from connections.services.connections import (
    PublishBlocked,
    connection_publish_as_support,
    connection_update,
)
from connections.services.sso import signin_event_record
from organizations.errors import PermissionDenied, ServiceError
from organizations.models import AuditEvent, Organization
from tests.admin_pages import (
    assert_constant_changelist_queries,
    change_url,
    changelist_url,
    page,
)
from tests.connections.conftest import SECRET, make_connection, make_ready, passed_check
from tests.factories import make_user

ISSUER = "https://acme.okta.example"
_n = itertools.count(1)


@pytest.fixture
def connection(owner_membership):
    return make_connection(owner_membership, ISSUER)


@pytest.fixture
def ready(org, owner, connection):
    """Publishable by support once the login path is typed."""
    make_ready(org, connection, owner)
    passed_check(connection)
    return connection


def act(client, action, connection, **data):
    """Choose ``action`` for ``connection`` on the changelist, as the page does."""
    return client.post(
        changelist_url(Connection),
        {"action": action, "_selected_action": [connection.pk], "index": 0, **data},
    )


def confirm_publish(client, connection, typed):
    """Submit the publish confirmation page."""
    return client.post(
        changelist_url(Connection),
        {
            "action": "publish",
            "_selected_action": [connection.pk],
            "post": "yes",
            "confirm": typed,
        },
    )


def shown_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def publish_refusal(actor, connection) -> PublishBlocked:
    """What the publish service says to ``actor`` (it publishes nothing)."""
    with pytest.raises(PublishBlocked) as refused:
        connection_publish_as_support(
            actor=actor, connection=connection, confirm="acme"
        )
    return refused.value


# -- every page renders, with search, and never shows a secret --------------------


@pytest.fixture
def everything(org, owner, connection):
    """One row of every connections model, the secret behind them."""
    check = passed_check(connection, created_by=owner)
    identity = SsoIdentity.objects.create(
        user=owner, connection=connection, issuer=ISSUER, subject="00u-owner-sub"
    )
    event = signin_event_record(
        organization=org,
        connection=connection,
        outcome="failure",
        step="token",
        detail="The ID token's signature did not verify.",
        subject="00u-owner-sub",
        email=owner.email,
    )
    return {
        Connection: (connection, "Okta"),
        ConnectionConfig: (connection.draft, "console-app"),
        ConnectionCheck: (check, "acme"),
        SsoIdentity: (identity, "00u-owner-sub"),
        SignInEvent: (event, event.reference),
    }


def test_every_connections_admin_page_renders_and_searches(admin_client, everything):
    for model, (obj, term) in everything.items():
        html = page(admin_client, changelist_url(model), q=term)
        assert change_url(obj) in html, model
        page(admin_client, change_url(obj))


def test_no_admin_page_shows_the_client_secret(admin_client, everything, connection):
    ciphertext = connection.draft.client_secret_encrypted
    urls = [changelist_url(model) for model in everything]
    urls += [change_url(obj) for obj, _term in everything.values()]
    for url in urls:
        html = page(admin_client, url)
        assert SECRET not in html, url
        assert ciphertext not in html, url
        assert "client_secret" not in html, url
    body = act(admin_client, "publish", connection).content.decode()
    assert SECRET not in body and ciphertext not in body


def test_the_secret_column_is_not_a_field_search_or_filter_anywhere(admin_client):
    from django.contrib import admin

    for model in (Connection, ConnectionConfig, ConnectionCheck):
        model_admin = admin.site.get_model_admin(model)
        names = [
            *model_admin.fields,
            *model_admin.search_fields,
            *model_admin.list_display,
        ]
        assert not any("secret" in str(name) for name in names), model


# -- constant queries ------------------------------------------------------------


def test_connection_changelists_cost_the_same_with_1_and_20_rows(
    admin_client, org, owner, owner_membership, django_assert_max_num_queries
):
    def new_connection():
        return make_connection(owner_membership, ISSUER, name=f"Okta {next(_n)}")

    base = new_connection()

    def new_identity():
        return SsoIdentity.objects.create(
            user=make_user(), connection=base, issuer=ISSUER, subject=f"s{next(_n)}"
        )

    def new_event():
        return signin_event_record(
            organization=org, connection=base, outcome="failure", step="token"
        )

    rows = {
        Connection: new_connection,
        ConnectionConfig: new_connection,
        ConnectionCheck: lambda: passed_check(base, created_by=owner),
        SsoIdentity: new_identity,
        SignInEvent: new_event,
    }
    for model, make_row in rows.items():
        assert_constant_changelist_queries(
            admin_client, model, make_row, django_assert_max_num_queries
        )


# -- sign-in events by the reference on the error page -----------------------------


def test_staff_find_a_sign_in_event_by_its_reference(admin_client, org, connection):
    events = [
        signin_event_record(
            organization=org, connection=connection, outcome="failure", step="token"
        )
        for _ in range(3)
    ]
    wanted = events[1]
    for typed in (wanted.reference, wanted.reference.lower(), f" {wanted.reference} "):
        response = admin_client.get(changelist_url(SignInEvent), {"q": typed})
        assert list(response.context["cl"].result_list) == [wanted], typed


def test_the_reference_on_an_error_page_finds_its_event_in_the_admin(
    client, admin_client, org
):
    # Acme has no live connection: the person sees an error page.
    response = client.get(reverse("sso_login", args=["acme"]))
    assert response.status_code == 404
    reference = re.search(
        r'id="sso-reference">([A-Z0-9]+)<', response.content.decode()
    ).group(1)
    found = admin_client.get(changelist_url(SignInEvent), {"q": reference})
    [event] = found.context["cl"].result_list
    assert event.reference == reference and event.step == "no_connection"
    page(admin_client, change_url(event))


# -- read-only: no save, no delete ------------------------------------------------


def test_the_connection_admin_saves_and_deletes_nothing(admin_client, connection):
    draft = connection.draft_id
    response = admin_client.post(
        change_url(connection), {"name": "Renamed", "draft": "", "live": ""}
    )
    assert response.status_code == 403
    act(admin_client, "delete_selected", connection)
    assert Connection.objects.filter(pk=connection.pk, draft_id=draft).exists()
    assert Connection.objects.get(pk=connection.pk).name == "Okta"
    assert (
        admin_client.get(reverse("admin:connections_connection_add")).status_code == 403
    )


# -- the check action -------------------------------------------------------------


def test_the_check_action_starts_a_check_of_the_draft_audited_as_support(
    admin_client, admin_user, org, connection
):
    response = act(admin_client, "run_check", connection)
    check = ConnectionCheck.objects.get(connection=connection, kind="check")
    assert response.status_code == 302
    assert response["Location"] == change_url(check)
    assert check.config_id == connection.draft_id
    assert check.fingerprint == connection.draft.fingerprint
    assert check.created_by == admin_user
    row = AuditEvent.objects.get(action="connection.check_started")
    assert row.actor == admin_user and row.organization == org
    assert row.details["by"] == "support"
    assert row.details["check_id"] == check.pk
    html = page(admin_client, change_url(check))
    assert "queued" in html


def test_the_check_action_reports_a_refusal_as_a_sentence(
    admin_client, admin_user, connection
):
    Connection.objects.filter(pk=connection.pk).update(draft=None)
    with pytest.raises(ServiceError) as refused:
        connection_check_start_as_support(actor=admin_user, connection=connection)
    assert refused.value.code == "draft_missing"
    response = act(admin_client, "run_check", connection)
    assert response.status_code == 302
    assert any(m.endswith(str(refused.value)) for m in shown_messages(response))
    assert not ConnectionCheck.objects.exists()


# -- the publish action -----------------------------------------------------------


def test_publish_shows_the_irreversible_switch_and_asks_for_the_login_path(
    admin_client, ready
):
    response = act(admin_client, "publish", ready)
    assert response.status_code == 200
    body = response.content.decode()
    assert "switches Acme Inc to single sign-on" in body
    assert "This cannot be undone." in body
    assert "Password sign-in is disabled for them" in body
    assert "Type <code>acme</code>" in body
    assert 'name="confirm"' in body
    assert "publish-blockers" not in body
    assert not Organization.objects.get(pk=ready.organization_id).sso_enforced


def test_publish_is_refused_without_a_passing_check_of_the_draft(
    admin_client, org, owner, connection
):
    make_ready(org, connection, owner)
    body = act(admin_client, "publish", connection).content.decode()
    assert "has not been tested" in body
    assert 'disabled aria-describedby="publish-blockers"' in body
    response = confirm_publish(admin_client, connection, "acme")
    assert response.status_code == 400
    # The service's refusal, as a message above the confirmation again.
    [refusal] = shown_messages(response)
    assert "has not been tested" in refusal
    assert 'class="error"' in response.content.decode()
    connection.refresh_from_db()
    assert connection.live_id is None
    assert not Organization.objects.get(pk=org.pk).sso_enforced
    assert not AuditEvent.objects.filter(action="connection.published").exists()


def test_publish_is_refused_when_the_check_covered_an_older_draft(
    admin_client, admin_user, org, owner_membership, ready
):
    draft = ready.draft
    connection_update(
        actor_membership=owner_membership,
        connection=ready,
        name=ready.name,
        issuer_url=draft.issuer_url,
        client_id="another-client",
        scopes=draft.scopes,
    )
    refusal = publish_refusal(admin_user, ready)
    assert "draft_changed_since_check" in refusal.reasons
    response = confirm_publish(admin_client, ready, "acme")
    assert response.status_code == 400
    assert escape(str(refusal)) in response.content.decode()
    ready.refresh_from_db()
    assert ready.live_id is None


def test_publish_is_refused_when_the_latest_check_failed(
    admin_client, admin_user, org, ready
):
    passed_check(ready, status=ConnectionCheck.Status.FAILED)
    refusal = publish_refusal(admin_user, ready)
    assert refusal.reasons == ("draft_check_failed",)
    response = confirm_publish(admin_client, ready, "acme")
    assert escape(str(refusal)) in response.content.decode()
    assert Connection.objects.get(pk=ready.pk).live_id is None


def test_publish_is_refused_with_a_wrong_login_path(admin_client, org, ready):
    for typed in ("nope", "acme-inc", "Acme Inc", "globex"):
        response = confirm_publish(admin_client, ready, typed)
        body = response.content.decode()
        assert response.status_code == 400, typed
        # The service's sentence, on the confirmation page again, to retype.
        assert "Type the login path &#x27;acme&#x27; to confirm" in body
        assert "switches Acme Inc to single sign-on" in body
    response = confirm_publish(admin_client, ready, "")
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Connection.objects.get(pk=ready.pk).live_id is None
    assert not Organization.objects.get(pk=org.pk).sso_enforced
    assert not AuditEvent.objects.filter(action="connection.published").exists()


def test_publish_with_the_login_path_switches_and_audits_the_staff_user(
    admin_client, admin_user, org, ready
):
    response = confirm_publish(admin_client, ready, " ACME ")
    assert response.status_code == 302
    assert response["Location"] == change_url(ready)
    assert any("SSO is enforced" in m for m in shown_messages(response))
    ready.refresh_from_db()
    org.refresh_from_db()
    assert ready.live_id == ready.draft_id
    assert org.sso_enforced
    published = AuditEvent.objects.get(action="connection.published")
    assert published.actor == admin_user and published.organization == org
    assert published.details["by"] == "support"
    assert published.details["enforces_sso"] is True
    enforced = AuditEvent.objects.get(action="sso.enforced")
    assert enforced.actor == admin_user and enforced.details["by"] == "support"


def test_a_later_publish_replaces_the_live_configuration(
    admin_client, admin_user, org, owner_membership, ready
):
    confirm_publish(admin_client, ready, "acme")
    draft = Connection.objects.get(pk=ready.pk).draft
    connection_update(
        actor_membership=owner_membership,
        connection=ready,
        name=ready.name,
        issuer_url=draft.issuer_url,
        client_id="rotated-client",
        scopes=draft.scopes,
    )
    refusal = publish_refusal(admin_user, ready)
    assert refusal.reasons == ("draft_changed_since_check",)
    body = act(admin_client, "publish", ready).content.decode()
    assert "Publish the draft of Okta" in body
    assert escape(str(refusal)) in body
    passed_check(ready)
    response = confirm_publish(admin_client, ready, "acme")
    assert response.status_code == 302
    ready.refresh_from_db()
    assert ready.live.client_id == "rotated-client"


def test_the_first_publish_by_support_needs_the_owners_test_sign_in(
    admin_client, admin_user, org, connection
):
    make_ready(org, connection, admin_user)  # a test sign-in, but not the owner's
    passed_check(connection)
    refusal = publish_refusal(admin_user, connection)
    assert refusal.reasons == ("test_signin_missing",)
    response = confirm_publish(admin_client, connection, "acme")
    assert response.status_code == 400
    assert escape(str(refusal)) in response.content.decode()
    assert not Organization.objects.get(pk=org.pk).sso_enforced


def test_publish_takes_one_connection_at_a_time(admin_client, owner_membership, ready):
    other = make_connection(owner_membership, ISSUER, name="Second")
    response = admin_client.post(
        changelist_url(Connection),
        {"action": "publish", "_selected_action": [ready.pk, other.pk], "index": 0},
    )
    assert response.status_code == 302
    assert any("one connection at a time" in m for m in shown_messages(response))


def test_the_change_page_says_why_the_draft_cannot_be_published(
    admin_client, connection
):
    html = page(admin_client, change_url(connection))
    assert "has not been tested" in html
    assert 'value="run_check"' in html and 'value="publish"' in html


# -- who may act ------------------------------------------------------------------


@pytest.fixture
def viewer_staff(db, client):
    """Staff who may look at connections but not act on them."""
    user = make_user("viewer@support.test")
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_connection", "view_organization"]
        )
    )
    client.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    return client, user


def test_staff_without_the_permission_get_no_actions(viewer_staff, ready):
    client, _user = viewer_staff
    html = page(client, changelist_url(Connection))
    assert "run_check" not in html and 'value="publish"' not in html
    assert 'value="publish"' not in page(client, change_url(ready))
    act(client, "publish", ready)
    response = confirm_publish(client, ready, "acme")
    assert response.status_code in (200, 302)
    assert Connection.objects.get(pk=ready.pk).live_id is None
    assert not ConnectionCheck.objects.filter(kind="check", created_by=_user).exists()


def test_the_support_services_refuse_anyone_but_permitted_staff(viewer_staff, ready):
    _client, user = viewer_staff
    member = ready.organization.owner
    for actor in (user, member):
        with pytest.raises(PermissionDenied) as refused:
            connection_check_start_as_support(actor=actor, connection=ready)
        assert refused.value.code == "not_support_staff"
        with pytest.raises(PermissionDenied) as refused:
            connection_publish_as_support(actor=actor, connection=ready, confirm="acme")
        assert refused.value.code == "not_support_staff"
    assert Connection.objects.get(pk=ready.pk).live_id is None
