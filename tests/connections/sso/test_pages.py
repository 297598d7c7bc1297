"""The pages around sign-in: email-first, signed out, the connection panel,
password sign-in next to SSO, and sessions of deactivated people."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from connections.models import SignInEvent
from tests.factories import PASSWORD, make_member, make_user

from .helpers import callback, make_connection, signed_in_user_id, start_login

pytestmark = pytest.mark.django_db


def test_email_first_page_asks_for_the_email(client):
    response = client.get("/login/", {"email": "ada@acme.test"})
    assert response.status_code == 200
    assert 'value="ada@acme.test"' in response.content.decode()
    assert 'name="email"' in response.content.decode()


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("ada@unknown.test", "/accounts/login/?email=ada%40unknown.test"),
        ("ada@gmail.com", "/accounts/login/?email=ada%40gmail.com"),
    ],
)
def test_email_first_sends_other_domains_to_password_sign_in(
    client, acme, acme_connection, email, expected
):
    response = client.post("/login/", {"email": email})
    assert response.status_code == 302
    assert response["Location"] == expected


def test_email_first_without_live_sso_goes_to_password_sign_in(client, acme, fake_idp):
    make_connection(acme, issuer=fake_idp.issuer, live=False)
    response = client.post("/login/", {"email": "ada@acme.test"})
    assert response["Location"] == "/accounts/login/?email=ada%40acme.test"


def test_email_first_keeps_a_local_next_only(client, acme, acme_connection):
    local = client.post("/login/", {"email": "ada@acme.test", "next": "/orgs/acme/"})
    assert local["Location"] == (
        "/sso/login/acme/?login_hint=ada%40acme.test&next=%2Forgs%2Facme%2F"
    )
    foreign = client.post(
        "/login/", {"email": "ada@acme.test", "next": "https://evil.example/"}
    )
    assert "evil" not in foreign["Location"]


def test_email_first_refuses_something_that_is_not_an_email(client):
    response = client.post("/login/", {"email": "not an email"})
    assert response.status_code == 400
    assert "field-error" in response.content.decode()


def test_signed_out_page_without_the_idp(client):
    response = client.get("/sso/logged-out/", {"state": "forged"})
    assert response.status_code == 200
    assert "signed out of this console." in response.content.decode()


def test_callback_and_logout_accept_only_their_methods(client):
    assert client.post("/sso/callback/").status_code == 405
    assert client.get("/sso/logout/").status_code == 405


def test_connection_page_shows_owners_the_test_button_and_sign_in_events(
    owner_client, acme, acme_connection, fake_idp
):
    request = start_login(Client())
    callback(Client(), fake_idp.issuer, request["state"])  # another browser
    event = SignInEvent.objects.get()
    event.detail += " <b>bold</b>"
    event.save()

    page = owner_client.get(f"/orgs/acme/connections/{acme_connection.pk}/")

    html = page.content.decode()
    assert page.status_code == 200
    assert f"/orgs/acme/connections/{acme_connection.pk}/test-signin/" in html
    assert event.reference in html
    assert "state_unknown" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_connection_page_hides_sign_in_events_from_admins(
    client, acme, acme_connection
):
    admin = make_member(acme, "admin")
    client.force_login(admin.user, backend="accounts.backends.EmailPasswordBackend")
    SignInEvent.objects.create(
        organization=acme,
        connection=acme_connection,
        outcome="failure",
        step="email_domain",
        email="someone@acme.test",
        reference="REFERENCE1",
    )

    page = client.get(f"/orgs/acme/connections/{acme_connection.pk}/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "test-signin" not in html
    assert "REFERENCE1" not in html and "someone@acme.test" not in html
    assert "Only the organization's owner" in html


def test_connection_page_has_an_empty_state(owner_client, acme, acme_connection):
    page = owner_client.get(f"/orgs/acme/connections/{acme_connection.pk}/")
    assert "No sign-in attempts yet" in page.content.decode()


def test_password_sign_in_still_works_with_the_sso_backend_installed(client, acme):
    make_user("pat@acme.test")
    response = client.post(
        "/accounts/login/", {"username": "pat@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert signed_in_user_id(client) is not None


def test_code_and_state_on_a_password_sign_in_never_reach_an_idp(
    client, acme, acme_connection, fake_idp
):
    # Django's authenticate() runs every backend; the SSO one acts only on a
    # flow the callback hands it, never on ?code=&state= of any request.
    request = start_login(Client())
    make_user("pat@acme.test")
    url = f"/accounts/login/?code=c&state={request['state']}"

    # A wrong password: the password backend says no, so the SSO one is asked.
    refused = client.post(url, {"username": "pat@acme.test", "password": "wrong"})
    assert refused.status_code < 500
    assert signed_in_user_id(client) is None
    response = client.post(url, {"username": "pat@acme.test", "password": PASSWORD})

    assert response.status_code == 302
    user = User.objects.get(email="pat@acme.test")
    assert signed_in_user_id(client) == str(user.pk)
    assert client.session["_auth_user_backend"] == (
        "accounts.backends.EmailPasswordBackend"
    )
    assert fake_idp.count("/token") == 0


def test_enforced_members_get_a_link_to_their_sso(client, acme, acme_connection):
    member = make_member(acme, user=make_user("pat@acme.test"))
    acme.sso_enforced = True
    acme.save()

    response = client.post(
        "/accounts/login/", {"username": member.user.email, "password": PASSWORD}
    )

    assert response.status_code == 400
    assert 'href="/sso/login/acme/"' in response.content.decode()
    assert signed_in_user_id(client) is None


def test_a_deactivated_user_loses_the_sso_session(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    callback(client, fake_idp.issuer, request["state"])
    user_id = signed_in_user_id(client)
    assert user_id is not None
    assert client.get("/accounts/me/").status_code == 200

    User.objects.filter(pk=user_id).update(is_active=False)

    assert client.get("/accounts/me/").status_code == 401


def test_anonymous_refusals_before_the_idp_never_push_out_real_attempts(
    acme, acme_connection, fake_idp
):
    # Issue 15, item 4: 25 anonymous IdP-initiated links with a wrong issuer
    # used to replace every row of the connection's latest sign-in attempts.
    member = make_member(acme, "member", user=make_user("ada@acme.test"))
    real = Client()
    request = start_login(real)
    fake_idp.next_id_token = fake_idp.sign(
        {**fake_idp.claims(request["nonce"]), "email": member.user.email}
    )
    callback(real, fake_idp.issuer, request["state"])
    assert signed_in_user_id(real) == str(member.user.pk)

    for number in range(25):
        anonymous = Client(REMOTE_ADDR=f"203.0.113.{number}")
        response = anonymous.get("/sso/initiate/acme/", {"iss": "https://evil.test"})
        assert response.status_code == 400
    # The same address again within a minute writes nothing more.
    Client(REMOTE_ADDR="203.0.113.1").get("/sso/initiate/acme/", {"iss": "x"})
    assert SignInEvent.objects.filter(reached_idp=False).count() == 25

    owner = Client()
    owner.force_login(acme.owner, backend="accounts.backends.EmailPasswordBackend")
    page = owner.get(f"/orgs/acme/connections/{acme_connection.pk}/").content.decode()
    panel = page.split("Refused before reaching your identity provider")
    assert "ada@acme.test" in panel[0]  # the real attempt is still listed
    assert "initiate_iss" not in panel[0]
    assert "<td>25</td>" in panel[1]
