"""The callback against hand-made tokens from a scriptable IdP on loopback.

Every rule of ID token validation, the state, the RFC 9207 ``iss`` parameter,
IdP error responses and a misbehaving token endpoint: each refusal is a 4xx
or a friendly page, nobody is signed in, and a sign-in event says why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from connections.models import SignInEvent, SsoIdentity
from connections.oidc import flow as flow_module

from .fakeidp import CLIENT_ID, CLIENT_SECRET, Reply, b64url, rsa_key
from .helpers import (
    assert_refused,
    callback,
    make_connection,
    new_draft,
    query_of,
    signed_in_user_id,
    start_login,
    verify_domain,
)

pytestmark = pytest.mark.django_db


def sign_in_with(client, fake, token_for_nonce, **params):
    """Start a sign-in, have the IdP return ``token_for_nonce(nonce)``, call back."""
    request = start_login(client)
    fake.next_id_token = token_for_nonce(request["nonce"])
    return callback(client, fake.issuer, request["state"], **params)


def now() -> int:
    return int(time.time())


def hs256(payload: dict, secret: str) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    mac = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256)
    return f"{header}.{body}.{b64url(mac.digest())}"


def assert_nothing_written():
    assert not User.objects.filter(email="ada@acme.test").exists()
    assert not SsoIdentity.objects.exists()


# ---------------------------------------------------------------- the good path


def test_good_token_signs_in_and_provisions_the_member(
    client, acme, acme_connection, fake_idp
):
    response = sign_in_with(client, fake_idp, fake_idp.id_token)

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="ada@acme.test")
    assert signed_in_user_id(client) == str(user.pk)
    assert client.session["sso_org_ids"] == [acme.pk]
    assert client.session["_auth_user_backend"] == (
        "connections.backend.OrganizationOIDCBackend"
    )
    identity = SsoIdentity.objects.get(user=user)
    assert (identity.connection, identity.issuer, identity.subject) == (
        acme_connection,
        fake_idp.issuer,
        "00u-ada",
    )
    assert not user.has_usable_password()
    membership = user.memberships.get(organization=acme)
    assert membership.role.slug == "member"
    assert membership.managed_by_idp
    event = SignInEvent.objects.get()
    assert (event.outcome, event.connection) == ("success", acme_connection)
    assert (event.subject, event.email) == ("00u-ada", "ada@acme.test")
    # The session works for the console, through the backend's get_user.
    assert client.get("/accounts/me/").json()["email"] == "ada@acme.test"


def test_authorization_request_is_code_flow_with_pkce_s256_and_fresh_secrets(
    client, acme, acme_connection, fake_idp
):
    first = start_login(client, login_hint="ada@acme.test")
    second = start_login(client)

    assert first["_url"].startswith(fake_idp.metadata["authorization_endpoint"] + "?")
    assert first["response_type"] == "code"
    assert first["client_id"] == CLIENT_ID
    assert first["redirect_uri"] == "http://testserver/sso/callback/"
    assert first["scope"].split()[0] == "openid"
    assert first["code_challenge_method"] == "S256"
    assert first["login_hint"] == "ada@acme.test"
    assert "login_hint" not in second
    assert len(first["state"]) >= 43 and len(first["nonce"]) >= 43
    assert len({first["state"], first["nonce"], second["state"], second["nonce"]}) == 4
    assert first["code_challenge"] != second["code_challenge"]


def test_code_exchange_sends_the_pkce_verifier_with_client_secret_basic(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    callback(client, fake_idp.issuer, request["state"], code="the-code")

    (token_request,) = fake_idp.seen("/token")
    form = token_request.form
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == "the-code"
    assert form["redirect_uri"] == "http://testserver/sso/callback/"
    digest = hashlib.sha256(form["code_verifier"].encode()).digest()
    assert b64url(digest) == request["code_challenge"]
    assert "client_secret" not in form
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"


def test_code_exchange_uses_client_secret_post_when_only_that_is_advertised(
    client, acme, acme_connection, fake_idp
):
    fake_idp.metadata_changes["token_endpoint_auth_methods_supported"] = [
        "client_secret_post"
    ]
    response = sign_in_with(client, fake_idp, fake_idp.id_token)

    assert response.status_code == 302
    (token_request,) = fake_idp.seen("/token")
    assert token_request.form["client_id"] == CLIENT_ID
    assert token_request.form["client_secret"] == CLIENT_SECRET
    assert "authorization" not in token_request.headers


def test_unsupported_client_authentication_is_refused_before_any_exchange(
    client, acme, acme_connection, fake_idp
):
    fake_idp.metadata_changes["token_endpoint_auth_methods_supported"] = [
        "private_key_jwt"
    ]
    response = sign_in_with(client, fake_idp, fake_idp.id_token)

    assert_refused(client, response, "token_auth")
    assert fake_idp.count("/token") == 0


def test_token_without_kid_is_accepted_when_one_key_fits_its_algorithm(
    client, acme, acme_connection, fake_idp
):
    # The JWKS holds one RSA and one EC key: exactly one can verify RS256.
    response = sign_in_with(
        client, fake_idp, lambda nonce: fake_idp.sign(fake_idp.claims(nonce), kid=None)
    )
    assert response.status_code == 302
    assert signed_in_user_id(client) is not None


def test_es256_token_is_accepted_when_advertised(
    client, acme, acme_connection, fake_idp
):
    response = sign_in_with(
        client,
        fake_idp,
        lambda nonce: fake_idp.sign(fake_idp.claims(nonce), alg="ES256", kid="ec-1"),
    )
    assert response.status_code == 302


def test_next_is_followed_only_when_it_is_a_local_path(
    client, acme, acme_connection, fake_idp
):
    for next_url, expected in [
        ("/orgs/acme/", "/orgs/acme/"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ]:
        browser = Client()
        request = start_login(browser, next=next_url)
        fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
        response = callback(browser, fake_idp.issuer, request["state"])
        assert response["Location"] == expected, next_url


def test_session_key_rotates_on_sign_in_even_for_a_signed_in_user(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    anonymous_key = client.session.session_key
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    callback(client, fake_idp.issuer, request["state"])
    first_key = client.session.session_key
    assert first_key != anonymous_key

    response = sign_in_with(client, fake_idp, fake_idp.id_token)

    assert response.status_code == 302
    assert client.session.session_key != first_key
    assert client.session["sso_org_ids"] == [acme.pk]


def test_parallel_sign_ins_in_one_browser_each_complete(
    client, acme, acme_connection, fake_idp
):
    first = start_login(client)
    second = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(second["nonce"])
    assert callback(client, fake_idp.issuer, second["state"]).status_code == 302
    fake_idp.next_id_token = fake_idp.id_token(first["nonce"])
    assert callback(client, fake_idp.issuer, first["state"]).status_code == 302
    assert SignInEvent.objects.filter(outcome="success").count() == 2


def test_warm_sign_in_only_calls_the_token_endpoint(
    client, acme, acme_connection, fake_idp
):
    sign_in_with(client, fake_idp, fake_idp.id_token)
    assert fake_idp.count("/.well-known/openid-configuration") == 1
    assert fake_idp.count("/jwks") == 1
    fake_idp.requests.clear()

    response = sign_in_with(Client(), fake_idp, fake_idp.id_token)

    assert response.status_code == 302
    assert [r.path for r in fake_idp.requests] == ["/token"]


def test_no_token_reaches_events_pages_or_the_session_without_idp_logout(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    token = fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    response = callback(client, fake_idp.issuer, request["state"])

    assert response.status_code == 302
    session_text = json.dumps(dict(client.session.items()))
    assert token not in session_text
    assert "fake-access-token" not in session_text
    for event in SignInEvent.objects.all():
        assert token not in event.detail and "fake-access-token" not in event.detail


# ---------------------------------------------------------------- the ID token


def _bad_signature(fake, nonce):
    return fake.sign(fake.claims(nonce), key=rsa_key("attacker"))


VALIDATION_CASES = {
    "bad_signature": (_bad_signature, "signature"),
    "alg_none": (lambda fake, nonce: fake.unsigned(fake.claims(nonce)), "alg"),
    "hs256_with_the_client_secret": (
        lambda fake, nonce: hs256(fake.claims(nonce), CLIENT_SECRET),
        "alg",
    ),
    "wrong_iss": (
        lambda fake, nonce: fake.id_token(nonce, iss="https://evil.example"),
        "iss",
    ),
    "wrong_aud": (lambda fake, nonce: fake.id_token(nonce, aud="another-app"), "aud"),
    "several_aud_without_azp": (
        lambda fake, nonce: fake.id_token(nonce, aud=[CLIENT_ID, "another-app"]),
        "aud",
    ),
    "azp_of_another_client": (
        lambda fake, nonce: fake.id_token(nonce, azp="another-app"),
        "azp",
    ),
    "expired": (
        lambda fake, nonce: fake.id_token(nonce, iat=now() - 3600, exp=now() - 600),
        "exp",
    ),
    "nbf_in_the_future": (
        lambda fake, nonce: fake.id_token(nonce, nbf=now() + 600),
        "nbf",
    ),
    "iat_missing": (lambda fake, nonce: fake.id_token(nonce, iat=None), "iat"),
    "iat_in_the_future": (
        lambda fake, nonce: fake.id_token(nonce, iat=now() + 600),
        "iat",
    ),
    "exp_missing": (lambda fake, nonce: fake.id_token(nonce, exp=None), "exp"),
    "sub_missing": (lambda fake, nonce: fake.id_token(nonce, sub=None), "sub"),
    "nonce_mismatch": (
        lambda fake, nonce: fake.id_token("another-sign-in-nonce"),
        "nonce",
    ),
    "nonce_missing": (
        lambda fake, nonce: fake.sign(
            {k: v for k, v in fake.claims(nonce).items() if k != "nonce"}
        ),
        "nonce",
    ),
    "unknown_kid": (
        lambda fake, nonce: fake.sign(fake.claims(nonce), kid="not-published"),
        "kid",
    ),
    "not_a_jwt": (lambda fake, nonce: "this.is-not-a.token", "malformed"),
}


@pytest.mark.parametrize("case", sorted(VALIDATION_CASES))
def test_invalid_id_token_is_refused_without_a_session(
    case, client, acme, acme_connection, fake_idp
):
    make_token, step = VALIDATION_CASES[case]
    response = sign_in_with(client, fake_idp, lambda nonce: make_token(fake_idp, nonce))

    event = assert_refused(client, response, step)
    assert response.status_code == 400
    assert event.connection == acme_connection
    # The person reads a sentence of their own; the detail is for the admins.
    assert event.detail not in html.unescape(response.content.decode())
    assert_nothing_written()


def test_rs256_is_refused_when_the_idp_advertises_only_es256(
    client, acme, acme_connection, fake_idp
):
    fake_idp.metadata_changes["id_token_signing_alg_values_supported"] = ["ES256"]
    response = sign_in_with(client, fake_idp, fake_idp.id_token)
    assert_refused(client, response, "alg")


def test_email_not_verified_by_the_idp_is_refused(
    client, acme, acme_connection, fake_idp
):
    response = sign_in_with(
        client, fake_idp, lambda nonce: fake_idp.id_token(nonce, email_verified=False)
    )

    event = assert_refused(client, response, "email_verified")
    assert response.status_code == 403
    assert (event.subject, event.email) == ("00u-ada", "ada@acme.test")
    assert_nothing_written()


# ---------------------------------------------------------------- UserInfo


def test_userinfo_completes_missing_claims_when_it_describes_the_same_sub(
    client, acme, acme_connection, fake_idp
):
    fake_idp.userinfo = {
        "sub": "00u-ada",
        "email": "ada@acme.test",
        "email_verified": True,
        "groups": ["Engineering"],
    }
    response = sign_in_with(
        client,
        fake_idp,
        lambda nonce: fake_idp.id_token(
            nonce, email=None, email_verified=None, groups=None
        ),
    )

    assert response.status_code == 302
    (userinfo_request,) = fake_idp.seen("/userinfo")
    assert userinfo_request.headers["authorization"] == "Bearer fake-access-token"
    assert User.objects.filter(email="ada@acme.test").exists()


def test_userinfo_for_another_sub_is_refused(client, acme, acme_connection, fake_idp):
    fake_idp.userinfo = {
        "sub": "00u-mallory",
        "email": "ada@acme.test",
        "email_verified": True,
    }
    response = sign_in_with(
        client,
        fake_idp,
        lambda nonce: fake_idp.id_token(nonce, email=None, email_verified=None),
    )
    assert_refused(client, response, "userinfo_sub")
    assert_nothing_written()


def test_userinfo_never_overrides_an_id_token_claim(
    client, acme, acme_connection, fake_idp
):
    # The ID token lacks only the groups; UserInfo's email is ignored.
    fake_idp.userinfo = {"sub": "00u-ada", "email": "boss@acme.test", "groups": []}
    response = sign_in_with(
        client, fake_idp, lambda nonce: fake_idp.id_token(nonce, groups=None)
    )
    assert response.status_code == 302
    assert User.objects.filter(email="ada@acme.test").exists()
    assert not User.objects.filter(email="boss@acme.test").exists()


# ---------------------------------------------------------------- the state


def test_missing_or_unknown_state_is_refused_with_a_reference(client, acme_connection):
    for state in (None, "made-up-state"):
        response = callback(client, "http://whatever.example", state)
        assert response.status_code == 400
        assert signed_in_user_id(client) is None
        assert b"sso-reference" in response.content
    # Nothing says which organization it was for, so no organization's log.
    assert not SignInEvent.objects.exists()


def test_state_started_in_another_browser_is_refused_and_reported(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    other_browser = Client()
    response = callback(other_browser, fake_idp.issuer, request["state"])

    event = assert_refused(other_browser, response, "state_unknown")
    assert event.organization == acme
    assert fake_idp.count("/token") == 0


def test_state_is_single_use_after_a_failure(client, acme, acme_connection, fake_idp):
    request = start_login(client)
    fake_idp.next_id_token = _bad_signature(fake_idp, request["nonce"])
    assert_refused(
        client, callback(client, fake_idp.issuer, request["state"]), "signature"
    )

    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    response = callback(client, fake_idp.issuer, request["state"])

    assert_refused(client, response, "state_reused")
    assert fake_idp.count("/token") == 1


def test_state_is_single_use_after_a_success(client, acme, acme_connection, fake_idp):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    assert callback(client, fake_idp.issuer, request["state"]).status_code == 302

    replay = Client()
    response = callback(replay, fake_idp.issuer, request["state"])

    assert_refused(replay, response, "state_reused")
    assert fake_idp.count("/token") == 1


def test_state_used_by_a_concurrent_request_is_refused(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    # Another request with the same session took the state a moment ago.
    digest = hashlib.sha256(request["state"].encode()).hexdigest()
    cache.add(f"sso:flow:used:{digest}", {"organization_id": acme.pk}, 60)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])

    response = callback(client, fake_idp.issuer, request["state"])

    assert_refused(client, response, "state_reused")
    assert fake_idp.count("/token") == 0


def test_state_expires_after_ten_minutes(
    client, acme, acme_connection, fake_idp, monkeypatch
):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    later = time.time() + 10 * 60 + 1
    monkeypatch.setattr(flow_module, "time", SimpleNamespace(time=lambda: later))

    response = callback(client, fake_idp.issuer, request["state"])

    event = assert_refused(client, response, "state_expired")
    assert "10 minutes" in event.detail
    assert fake_idp.count("/token") == 0


def test_state_within_ten_minutes_is_accepted(
    client, acme, acme_connection, fake_idp, monkeypatch
):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    later = time.time() + 9 * 60
    monkeypatch.setattr(flow_module, "time", SimpleNamespace(time=lambda: later))

    assert callback(client, fake_idp.issuer, request["state"]).status_code == 302


def test_connection_changed_during_the_sign_in_is_refused(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    acme_connection.live = new_draft(acme_connection, client_id="rotated-client")
    acme_connection.save(update_fields=["live"])

    response = callback(client, fake_idp.issuer, request["state"])

    assert_refused(client, response, "config_changed")
    assert fake_idp.count("/token") == 0


# ---------------------------------------------------------------- RFC 9207 iss


def test_missing_iss_is_refused_when_the_idp_advertises_it(
    client, acme, acme_connection, fake_idp
):
    response = sign_in_with(client, fake_idp, fake_idp.id_token, iss=None)
    assert_refused(client, response, "iss_param")
    assert fake_idp.count("/token") == 0


def test_wrong_iss_is_refused_before_the_code_is_used(
    client, acme, acme_connection, fake_idp
):
    response = sign_in_with(
        client, fake_idp, fake_idp.id_token, iss="https://other-idp.example"
    )
    assert_refused(client, response, "iss_param")
    assert fake_idp.count("/token") == 0


def test_iss_is_optional_but_checked_when_the_idp_does_not_advertise_it(
    client, acme, acme_connection, fake_idp
):
    fake_idp.metadata_changes["authorization_response_iss_parameter_supported"] = False
    assert (
        sign_in_with(client, fake_idp, fake_idp.id_token, iss=None).status_code == 302
    )

    browser = Client()
    response = sign_in_with(
        browser, fake_idp, fake_idp.id_token, iss="https://other-idp.example"
    )
    assert_refused(browser, response, "iss_param")


def test_mix_up_of_two_organizations_logins_is_refused(
    client, acme, acme_connection, fake_idp, other_org, other_fake_idp
):
    """A state from Acme's sign-in with a code (and iss) from Globex's IdP."""
    verify_domain(other_org, "globex.test")
    make_connection(other_org, issuer=other_fake_idp.issuer)
    acme_request = start_login(client, "acme")
    other_fake_idp.next_id_token = other_fake_idp.id_token(
        acme_request["nonce"], email="bob@globex.test"
    )

    response = callback(client, other_fake_idp.issuer, acme_request["state"])

    event = assert_refused(client, response, "iss_param")
    assert event.organization == acme
    assert fake_idp.count("/token") == other_fake_idp.count("/token") == 0


def test_mix_up_without_iss_fails_at_the_token_or_id_token_checks(
    client, acme, acme_connection, fake_idp, other_org, other_fake_idp
):
    fake_idp.metadata_changes["authorization_response_iss_parameter_supported"] = False
    verify_domain(other_org, "globex.test")
    make_connection(other_org, issuer=other_fake_idp.issuer)
    acme_request = start_login(client, "acme")
    # Acme's token endpoint is tricked into returning Globex's ID token.
    fake_idp.next_id_token = other_fake_idp.id_token(
        acme_request["nonce"], email="bob@globex.test"
    )

    response = callback(client, None, acme_request["state"])

    assert_refused(client, response, "iss")
    assert other_fake_idp.count("/token") == 0
    assert not User.objects.filter(email="bob@globex.test").exists()


# ---------------------------------------------------------------- IdP errors


def test_idp_error_response_shows_a_friendly_page(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    response = callback(
        client,
        fake_idp.issuer,
        request["state"],
        code=None,
        error="access_denied",
        error_description="User <b>cancelled</b>",
    )

    event = assert_refused(client, response, "idp_error")
    assert response.status_code == 403
    assert "not assigned to this app" in response.content.decode()
    assert "access_denied" in event.detail
    assert fake_idp.count("/token") == 0


def test_response_without_code_is_refused(client, acme, acme_connection, fake_idp):
    request = start_login(client)
    response = callback(client, fake_idp.issuer, request["state"], code=None)
    assert_refused(client, response, "code_missing")


# ---------------------------------------------------------------- token endpoint


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=500, content_type="text/plain", body=b"internal error"),
        Reply(status=200, content_type="text/html", body=b"<html>Log in</html>"),
        Reply.json({"error": "invalid_client"}, status=401),
        Reply.json({"access_token": "x", "token_type": "Bearer"}),
        Reply.json(["not", "an", "object"]),
    ],
    ids=["http_500", "html", "invalid_client", "no_id_token", "json_list"],
)
def test_token_endpoint_failure_is_refused(
    reply, client, acme, acme_connection, fake_idp
):
    fake_idp.token_reply = lambda request: reply
    response = sign_in_with(client, fake_idp, fake_idp.id_token)

    event = assert_refused(client, response, "token")
    assert CLIENT_SECRET not in event.detail
    assert_nothing_written()


def test_token_endpoint_that_hangs_is_abandoned_in_bounded_time(
    client, acme, acme_connection, fake_idp, settings
):
    settings.OUTBOUND_CONNECT_TIMEOUT = 0.5
    settings.OUTBOUND_READ_TIMEOUT = 0.5
    request = start_login(client)
    fake_idp.token_reply = lambda seen: Reply(delay=3)

    started = time.monotonic()
    response = callback(client, fake_idp.issuer, request["state"])

    assert time.monotonic() - started < 2.5
    assert_refused(client, response, "token")


def test_discovery_failure_at_the_start_is_a_friendly_page(
    client, acme, acme_connection, fake_idp
):
    fake_idp.metadata_changes["issuer"] = "https://impostor.example"
    response = client.get("/sso/login/acme/")

    event = assert_refused(client, response, "issuer_mismatch")
    assert event.connection == acme_connection
    assert "oidc_states" not in client.session


def test_unknown_organization_and_organization_without_sso(client, acme):
    assert client.get("/sso/login/no-such-org/").status_code == 404
    response = client.get("/sso/login/acme/")
    assert_refused(client, response, "no_connection")


def test_login_path_is_case_insensitive(client, acme, acme_connection, fake_idp):
    request = start_login(client, "ACME")
    assert query_of(request["_url"])["client_id"] == CLIENT_ID
