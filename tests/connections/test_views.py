"""The connection pages and their JSON twins."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connections.models import Connection, ConnectionCheck
from organizations.models import AuditEvent
from tests.conftest import client_for
from tests.connections.conftest import (
    CLIENT_ID,
    SECRET,
    make_connection,
    passed_check,
)
from tests.factories import make_member
from tests.fixtures.idp import DISCOVERY_SUFFIX

ISSUER = "https://acme.okta.example"
FORM = {
    "name": "Okta production",
    "provider": "okta",
    "issuer_url": ISSUER,
    "client_id": CLIENT_ID,
    "client_secret": SECRET,
    "scopes": "openid email profile groups",
    "groups_claim": "groups",
    "email_claim": "email",
}


def test_create_with_the_contract_fields_makes_a_draft(owner_client, org):
    response = owner_client.post(reverse("connection_new", args=["acme"]), FORM)
    connection = Connection.objects.get(organization=org)
    assert response.status_code == 302
    assert response.url == reverse("connection_detail", args=["acme", connection.pk])
    draft = connection.draft
    assert connection.live_id is None
    assert (draft.issuer_url, draft.client_id, draft.scopes) == (
        ISSUER,
        CLIENT_ID,
        "openid email profile groups",
    )
    assert draft.client_secret == SECRET
    assert SECRET not in draft.client_secret_encrypted
    event = AuditEvent.objects.get(action="connection.created")
    assert event.actor == org.owner and SECRET not in str(event.details)


def test_create_accepts_only_the_contract_fields(owner_client, org):
    minimal = {k: FORM[k] for k in FORM if k not in ("provider",)}
    minimal |= {"scopes": "", "groups_claim": "", "email_claim": ""}
    response = owner_client.post(reverse("connection_new", args=["acme"]), minimal)
    assert response.status_code == 302
    draft = Connection.objects.get(organization=org).draft
    assert (draft.scopes, draft.groups_claim, draft.email_claim) == (
        "openid email profile groups",
        "groups",
        "email",
    )
    assert draft.leeway_seconds == 60


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("issuer_url", "ftp://acme.example", "https://"),
        ("issuer_url", "https://acme.example?x=1", "query string"),
        ("scopes", "email profile", "openid"),
        ("client_secret", "", "required"),
        ("client_id", "", "required"),
    ],
)
def test_bad_input_is_a_sentence_and_saves_nothing(
    owner_client, org, field, value, message
):
    response = owner_client.post(
        reverse("connection_new", args=["acme"]), FORM | {field: value}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Connection.objects.exists()
    assert SECRET not in response.content.decode()


def test_http_issuer_is_refused_unless_insecure_issuers_are_allowed(
    owner_client, org, settings
):
    settings.SSO_ALLOW_INSECURE_ISSUERS = False
    url = reverse("connection_new", args=["acme"])
    response = owner_client.post(url, FORM | {"issuer_url": "http://acme.example"})
    assert response.status_code == 400
    assert "https://" in response.content.decode()
    settings.SSO_ALLOW_INSECURE_ISSUERS = True
    assert (
        owner_client.post(url, FORM | {"issuer_url": "http://acme.example"}).status_code
        == 302
    )


def test_a_pasted_well_known_url_is_normalised_to_the_issuer(owner_client, org):
    owner_client.post(
        reverse("connection_new", args=["acme"]),
        FORM
        | {
            "issuer_url": f" HTTPS://Acme.Okta.Example/oauth2/default{DISCOVERY_SUFFIX}"
        },
    )
    draft = Connection.objects.get(organization=org).draft
    assert draft.issuer_url == "https://acme.okta.example/oauth2/default"


def test_edit_with_an_empty_secret_keeps_the_stored_one(
    owner_client, org, owner_membership
):
    connection = make_connection(owner_membership, ISSUER)
    old = connection.draft
    response = owner_client.post(
        reverse("connection_edit", args=["acme", connection.pk]),
        FORM | {"name": "Okta", "client_secret": "", "client_id": "new-client"},
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.draft_id != old.pk
    assert connection.draft.client_id == "new-client"
    assert connection.draft.client_secret_encrypted == old.client_secret_encrypted
    old.refresh_from_db()
    assert old.client_id == CLIENT_ID  # the old row is untouched
    event = AuditEvent.objects.get(action="connection.updated")
    assert event.details["changed"] == ["client_id"]
    assert event.details["client_secret_changed"] is False


def test_edit_form_never_renders_the_secret(owner_client, owner_membership):
    connection = make_connection(owner_membership, ISSUER)
    url = reverse("connection_edit", args=["acme", connection.pk])
    body = owner_client.get(url).content.decode()
    assert SECRET not in body
    assert CLIENT_ID in body
    assert "Leave this empty to keep it" in body
    # Not even when the form comes back with an error.
    body = owner_client.post(
        url, FORM | {"client_secret": "typed-new-secret", "scopes": "email"}
    ).content.decode()
    assert "typed-new-secret" not in body and SECRET not in body


def test_detail_shows_the_uris_from_site_url(owner_client, owner_membership, settings):
    settings.SITE_URL = "https://sso.example.com"
    connection = make_connection(owner_membership, ISSUER)
    body = owner_client.get(
        reverse("connection_detail", args=["acme", connection.pk])
    ).content.decode()
    for label, uri in (
        ("Sign-in redirect URI", "https://sso.example.com/sso/callback/"),
        ("Organization login URI", "https://sso.example.com/sso/login/acme/"),
        ("Initiate login URI", "https://sso.example.com/sso/initiate/acme/"),
        ("Sign-out redirect URI", "https://sso.example.com/sso/logged-out/"),
        (
            "Back-channel logout URI",
            "https://sso.example.com/sso/backchannel-logout/",
        ),
    ):
        assert label in body and uri in body
    assert body.count("data-copy-target=") == 5
    assert "stored encrypted, never shown" in body
    assert "Check history" in body and "No checks yet" in body


@pytest.mark.parametrize(
    ("support", "says"),
    [
        ("with_sid", "supports back-channel logout with session IDs"),
        ("without_sid", "ends every session of that person here"),
        ("unsupported", "does not advertise back-channel logout"),
    ],
)
def test_detail_says_what_the_last_check_found_of_back_channel_logout(
    owner_client, owner_membership, support, says
):
    connection = make_connection(owner_membership, ISSUER)
    url = reverse("connection_detail", args=["acme", connection.pk])
    assert "data-backchannel-logout=" not in owner_client.get(url).content.decode()
    check = passed_check(connection, result={"backchannel_logout": support})

    body = owner_client.get(url).content.decode()

    assert f'data-backchannel-logout="{support}"' in body
    assert says in body
    detail = owner_client.get(check.get_absolute_url()).content.decode()
    assert "Back-channel logout" in detail


def test_detail_json_follows_the_contract(owner_client, owner_membership):
    connection = make_connection(owner_membership, ISSUER)
    url = reverse("connection_detail", args=["acme", connection.pk])
    data = owner_client.get(url, HTTP_ACCEPT="application/json").json()
    assert {
        "id",
        "name",
        "status",
        "redirect_uri",
        "login_uri",
        "initiate_login_uri",
        "draft_tested",
        "latest_check",
    } <= set(data)
    assert data["status"] == "draft" and data["draft_tested"] is False
    assert data["latest_check"] is None
    assert data["redirect_uri"] == "http://testserver/sso/callback/"
    assert data["backchannel_logout_uri"] == (
        "http://testserver/sso/backchannel-logout/"
    )
    check = passed_check(connection)
    data = owner_client.get(url, HTTP_ACCEPT="application/json").json()
    assert data["draft_tested"] is True
    assert data["latest_check"]["id"] == check.pk
    assert data["latest_check"]["status"] == "passed"


def test_test_button_starts_a_check_and_redirects_to_its_page(
    idp, owner_client, owner_membership, django_capture_on_commit_callbacks
):
    connection = make_connection(owner_membership, idp.issuer)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("connection_test", args=["acme", connection.pk])
        )
    check = ConnectionCheck.objects.get(connection=connection)
    assert response.status_code == 302
    assert response.url == reverse(
        "check_detail", args=["acme", connection.pk, check.pk]
    )
    page = owner_client.get(response.url).content.decode()
    assert "Configuration tested successfully" in page
    assert "data-poll-url" not in page  # finished: nothing to follow
    data = owner_client.get(response.url, HTTP_ACCEPT="application/json").json()
    assert data["status"] == "passed"
    assert len(data["steps"]) == 8
    assert set(data["steps"][0]) >= {"name", "status", "detail"}
    assert AuditEvent.objects.filter(action="connection.check_started").exists()


def test_a_queued_check_page_polls_its_json_view(owner_client, owner_membership):
    connection = make_connection(owner_membership, ISSUER)
    check = passed_check(connection, status="queued")
    url = reverse("check_detail", args=["acme", connection.pk, check.pk])
    body = owner_client.get(url).content.decode()
    assert f'data-poll-url="{url}"' in body and 'data-status="queued"' in body
    data = owner_client.get(url, HTTP_ACCEPT="application/json").json()
    assert data["status"] == "queued"
    assert [s["status"] for s in data["steps"]] == ["pending"] * 8
    detail = owner_client.get(
        reverse("connection_detail", args=["acme", connection.pk])
    ).content.decode()
    assert f'data-poll-url="{url}"' in detail


def test_starting_a_check_twice_returns_the_one_under_way(
    owner_client, owner_membership
):
    connection = make_connection(owner_membership, ISSUER)
    url = reverse("connection_test", args=["acme", connection.pk])
    # Without the on-commit callbacks the checks stay queued.
    first = owner_client.post(url, HTTP_ACCEPT="application/json")
    second = owner_client.post(url, HTTP_ACCEPT="application/json")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert ConnectionCheck.objects.count() == 1


def test_admins_see_but_cannot_change_and_viewers_do_not_see(
    client, org, owner_membership
):
    connection = make_connection(owner_membership, ISSUER)
    for role in ("admin", "viewer"):
        client_for(client, make_member(org, role))
        detail = client.get(reverse("connection_detail", args=["acme", connection.pk]))
        # Issue 20: members and viewers get their home page, not this one.
        assert detail.status_code == (200 if role == "admin" else 403)
        assert "Test configuration</button>" not in detail.content.decode()
        assert client.get(reverse("connection_new", args=["acme"])).status_code == 403
        assert (
            client.post(
                reverse("connection_test", args=["acme", connection.pk])
            ).status_code
            == 403
        )
        assert (
            client.post(
                reverse("connection_edit", args=["acme", connection.pk]), FORM
            ).status_code
            == 403
        )
    assert not ConnectionCheck.objects.exists()


def test_list_page_and_its_empty_state(owner_client, owner_membership):
    url = reverse("connection_list", args=["acme"])
    assert "No connection yet" in owner_client.get(url).content.decode()
    connection = make_connection(owner_membership, ISSUER)
    passed_check(connection)
    body = owner_client.get(url).content.decode()
    assert connection.name in body and "Tested" in body
    data = owner_client.get(url, HTTP_ACCEPT="application/json").json()
    assert data[0]["id"] == connection.pk and data[0]["draft_tested"] is True


def test_the_secret_never_appears_in_any_page_or_json(
    idp, owner_client, owner_membership, org, django_capture_on_commit_callbacks
):
    connection = make_connection(owner_membership, idp.issuer)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("connection_test", args=["acme", connection.pk]))
    failing = make_connection(owner_membership, idp.issuer, secret="x" + SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("connection_test", args=["acme", failing.pk]))
    urls = [
        reverse("connection_list", args=["acme"]),
        reverse("connection_new", args=["acme"]),
    ]
    for c in (connection, failing):
        urls += [
            reverse(name, args=["acme", c.pk])
            for name in ("connection_detail", "connection_edit", "connection_publish")
        ]
        urls += [
            reverse("check_detail", args=["acme", c.pk, check.pk])
            for check in c.checks.all()
        ]
    urls += [
        reverse("audit_log", args=["acme"]),
        reverse("org_overview", args=["acme"]),
    ]
    for url in urls:
        for accept in ("text/html", "application/json"):
            response = owner_client.get(url, HTTP_ACCEPT=accept)
            assert response.status_code == 200, url
            assert SECRET not in response.content.decode(), (url, accept)
    # POST answers too.
    response = owner_client.post(
        reverse("connection_edit", args=["acme", connection.pk]),
        FORM | {"scopes": "bad"},
    )
    assert SECRET not in response.content.decode()


def _query_count(client, url, **headers) -> int:
    with CaptureQueriesContext(db) as ctx:
        assert client.get(url, **headers).status_code == 200
    return len(ctx)


@pytest.mark.parametrize("name", ["connection_list", "connection_detail"])
def test_query_count_does_not_grow_with_checks(owner_client, owner_membership, name):
    connections = [
        make_connection(owner_membership, ISSUER, name=f"C{i}") for i in range(2)
    ]
    args = ["acme"] if name == "connection_list" else ["acme", connections[0].pk]
    url = reverse(name, args=args)

    def with_checks(n):
        ConnectionCheck.objects.all().delete()
        for c in connections:
            for i in range(n):
                passed_check(c, status="failed" if i % 2 else "passed")
        return (
            _query_count(owner_client, url),
            _query_count(owner_client, url, HTTP_ACCEPT="application/json"),
        )

    assert with_checks(3) == with_checks(30)


def test_edit_without_a_provider_keeps_the_current_one(owner_client, owner_membership):
    connection = make_connection(owner_membership, ISSUER, provider="oidc")
    form = {k: v for k, v in FORM.items() if k != "provider"}
    owner_client.post(
        reverse("connection_edit", args=["acme", connection.pk]),
        form | {"client_secret": ""},
    )
    connection.refresh_from_db()
    assert connection.provider == "oidc"
    assert connection.name == FORM["name"]


def test_only_those_who_manage_connections_open_a_test_sign_in_result(
    client, org, owner_membership
):
    # A test sign-in lists every verified claim of whoever signed in; check ids
    # are sequential, so viewers and admins must not read them (issue 15, item 3).
    connection = make_connection(owner_membership, ISSUER)
    test_signin = passed_check(
        connection,
        kind=ConnectionCheck.Kind.TEST_SIGNIN,
        result={"claims": {"email": "ceo@acme.test", "phone": "+1 555 0100"}},
    )
    url = reverse("check_detail", args=["acme", connection.pk, test_signin.pk])
    for role in ("admin", "viewer"):
        client_for(client, make_member(org, role))
        page = client.get(url)
        assert page.status_code == 403
        assert "ceo@acme.test" not in page.content.decode()
        # Viewers have no console pages but their home (issue 20).
        assert (
            "only those who manage connections"
            if role == "admin"
            else "does not allow this"
        ) in page.content.decode()
        as_json = client.get(url, HTTP_ACCEPT="application/json")
        assert as_json.status_code == 403
        assert "ceo@acme.test" not in as_json.content.decode()
    client_for(client, owner_membership)
    assert client.get(url).status_code == 200
    # An ordinary check stays readable by admins; viewers have no console
    # pages but their home (issue 20).
    check = passed_check(connection)
    check_url = reverse("check_detail", args=["acme", connection.pk, check.pk])
    client_for(client, make_member(org, "admin"))
    assert client.get(check_url).status_code == 200
    client_for(client, make_member(org, "viewer"))
    assert client.get(check_url).status_code == 403
