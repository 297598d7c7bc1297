"""The IT admin's wizard: the draft, the check and a test sign-in through the
connections services, against the real test IdP; and nothing beyond."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from connections.models import Connection, ConnectionCheck, SignInEvent
from connections.services.connections import (
    PublishBlocked,
    connection_publish,
)
from domains.models import Domain
from organizations.models import AuditEvent
from setuplinks.models import SetupLink

from .conftest import (
    CLIENT_SECRET,
    IT_EMAIL,
    configure,
    new_link,
    open_link,
)

pytestmark = pytest.mark.django_db

BY_LINK = {"by": "setup_link", "setup_link_email": IT_EMAIL}


def _by_link(event: AuditEvent, link: SetupLink) -> bool:
    return (
        event.actor is None
        and event.details.get("setup_link_id") == link.pk
        and (all(event.details.get(k) == v for k, v in BY_LINK.items()))
    )


def test_the_wizard_creates_the_draft_connection_through_the_link(
    it_browser, link_and_token, it_idp, org
):
    link, _token = link_and_token
    page = it_browser.get("/setup/configure/?provider=okta")
    assert page.status_code == 200
    html = page.content.decode()
    assert "http://testserver/sso/callback/" in html  # the URIs to paste
    assert 'data-copy-target="uri-redirect"' in html
    assert "Okta Admin Console" in html  # the provider's own guide

    response = configure(it_browser, it_idp.issuer)

    assert response.status_code == 302, response.content.decode()[:3000]
    connection = Connection.objects.get()
    link.refresh_from_db()
    assert link.connection == connection
    assert connection.organization == org and connection.live is None
    assert connection.draft.created_by is None
    created = AuditEvent.objects.get(action="connection.created")
    assert _by_link(created, link)
    # The secret is nowhere to be read.
    home = it_browser.get("/setup/").content.decode()
    assert CLIENT_SECRET not in home
    assert CLIENT_SECRET not in it_browser.get("/setup/configure/").content.decode()


def test_the_wizard_edits_the_draft_of_the_connection_the_owner_chose(
    owner_membership, it_idp, org
):
    from connections.services.connections import connection_create

    connection = connection_create(
        actor_membership=owner_membership,
        name="Okta",
        issuer_url=it_idp.issuer,
        client_id="wrong-client",
        client_secret="wrong",
    )
    link, token = new_link(owner_membership, connection=connection)
    browser = open_link(token)
    form = browser.get("/setup/configure/").content.decode()
    assert "wrong-client" in form and 'value="wrong"' not in form

    response = configure(browser, it_idp.issuer)

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.draft.client_id == "console-setup-app"
    assert Connection.objects.count() == 1
    assert _by_link(AuditEvent.objects.get(action="connection.updated"), link)


def test_a_bad_issuer_gets_the_forms_sentence_not_a_500(it_browser):
    response = configure(it_browser, "not a url at all")
    assert response.status_code == 400
    assert not Connection.objects.exists()


def test_the_check_runs_and_is_watched_live(
    it_browser, link_and_token, it_idp, django_capture_on_commit_callbacks
):
    link, _token = link_and_token
    configure(it_browser, it_idp.issuer)

    with django_capture_on_commit_callbacks(execute=True):
        started = it_browser.post("/setup/check/")

    check = ConnectionCheck.objects.get(kind="check")
    assert started.status_code == 302
    assert started["Location"] == f"/setup/checks/{check.pk}/"
    assert check.status == "passed", check.steps
    assert check.created_by is None
    assert _by_link(AuditEvent.objects.get(action="connection.check_started"), link)
    polled = it_browser.get(started["Location"], HTTP_ACCEPT="application/json")
    assert polled.json()["status"] == "passed"
    page = it_browser.get(started["Location"])
    assert page.status_code == 200
    assert "Test sign-in with the draft" in page.content.decode()


def test_a_check_with_nothing_saved_says_what_to_do_first(it_browser):
    response = it_browser.post("/setup/check/", follow=True)
    assert "Save the connection" in response.content.decode()
    assert not ConnectionCheck.objects.exists()


def test_a_test_sign_in_through_the_link_is_recorded_for_the_link(
    it_browser, link_and_token, it_idp, org
):
    link, _token = link_and_token
    org.default_role = "member"
    org.save(update_fields=["default_role"])
    Domain.objects.create(
        organization=org, name="acme.test", token="t", status="verified"
    )
    configure(it_browser, it_idp.issuer)

    start = it_browser.post("/setup/test-signin/")
    assert start.status_code == 302
    back = it_idp.login(it_idp.http_session(), start["Location"], IT_EMAIL)
    response = it_browser.get(back)

    check = ConnectionCheck.objects.get(kind="test_signin")
    assert response.status_code == 302
    assert response["Location"] == f"/setup/checks/{check.pk}/"
    assert (check.status, check.created_by) == ("passed", None), check.result
    assert check.result["by"] == f"setup_link:{link.pk}"
    assert check.result["groups"] == ["it-admins"]
    assert "eyJ" not in json.dumps(check.result)
    assert SignInEvent.objects.get().is_test
    assert _by_link(AuditEvent.objects.get(action="connection.test_signin"), link)
    page = it_browser.get(response["Location"]).content.decode()
    assert "would sign in as" in page and IT_EMAIL in page
    # Nobody was signed in, and the link gave no account.
    assert "_auth_user_id" not in it_browser.session
    # The owner's own test sign-in is still what the first publish needs.
    owner_membership = org.owner.memberships.select_related("role").get()
    with pytest.raises(PublishBlocked) as blocked:
        connection_publish(
            actor_membership=owner_membership,
            connection=check.connection,
            confirm="acme",
        )
    assert "test_signin_missing" in blocked.value.reasons


def test_a_test_sign_in_coming_back_after_revocation_is_refused(
    owner_client, it_browser, link_and_token, it_idp
):
    link, _token = link_and_token
    configure(it_browser, it_idp.issuer)
    start = it_browser.post("/setup/test-signin/")
    back = it_idp.login(it_idp.http_session(), start["Location"], IT_EMAIL)
    owner_client.post(f"/orgs/acme/setup-links/{link.pk}/revoke/")

    response = it_browser.get(back)

    assert response.status_code == 403
    assert SignInEvent.objects.get().step == "test_actor"
    assert not ConnectionCheck.objects.filter(kind="test_signin").exists()


def test_the_owner_sees_what_the_it_admin_did_in_the_audit_log(
    owner_client, it_browser, it_idp
):
    configure(it_browser, it_idp.issuer)

    page = owner_client.get("/orgs/acme/audit/").content.decode()

    assert f"IT admin {IT_EMAIL} via setup link" in page
    links = owner_client.get("/orgs/acme/setup-links/").content.decode()
    assert "last used" in links and "audit log" in links


def test_publishing_and_the_console_are_beyond_the_link(
    it_browser, link_and_token, it_idp, org
):
    configure(it_browser, it_idp.issuer)
    connection = Connection.objects.get()

    refused = it_browser.post("/setup/publish/", {"confirm": "acme"})
    assert refused.status_code == 403
    assert "Publishing it" in refused.content.decode()
    for url in (
        f"/orgs/acme/connections/{connection.pk}/publish/",
        f"/orgs/acme/connections/{connection.pk}/",
        "/orgs/acme/members/",
        "/orgs/acme/domains/",
        "/orgs/acme/setup-links/",
    ):
        response = it_browser.post(url, {"confirm": "acme", "email": "x@acme.test"})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    connection.refresh_from_db()
    org.refresh_from_db()
    assert connection.live is None and not org.sso_enforced
    assert SetupLink.objects.count() == 1


def test_the_link_reaches_only_its_own_organizations_checks(
    it_browser, link_and_token, other_org, it_idp
):
    from connections.services.connections import connection_create

    other_owner = other_org.owner.memberships.select_related(
        "organization", "role", "user"
    ).get()
    theirs = connection_create(
        actor_membership=other_owner,
        name="Globex",
        issuer_url=it_idp.issuer,
        client_id="x",
        client_secret="y",
    )
    check = ConnectionCheck.objects.create(
        connection=theirs,
        config=theirs.draft,
        fingerprint=theirs.draft.fingerprint,
        status="passed",
    )
    configure(it_browser, it_idp.issuer)

    assert it_browser.get(f"/setup/checks/{check.pk}/").status_code == 404


def test_someone_elses_test_sign_in_is_not_shown_through_the_link(
    it_browser, it_idp, org
):
    configure(it_browser, it_idp.issuer)
    connection = Connection.objects.get()
    owners = ConnectionCheck.objects.create(
        connection=connection,
        config=connection.draft,
        fingerprint=connection.draft.fingerprint,
        kind="test_signin",
        status="passed",
        created_by=org.owner,
        result={"email": org.owner.email},
    )

    response = it_browser.get(f"/setup/checks/{owners.pk}/")

    assert response.status_code == 403
    assert org.owner.email not in response.content.decode()


def test_leaving_ends_the_setup_in_this_browser(it_browser, link_and_token):
    _link, token = link_and_token
    assert it_browser.post("/setup/leave/").status_code == 200
    assert it_browser.get("/setup/").status_code == 403
    assert Client().post(f"/setup/{token}/").status_code == 409
