"""The login state mozilla-django-oidc's request view makes, as we use it.

The library makes ``state``, ``nonce`` and the PKCE verifier and keeps them in
the session (``oidc_states``); we pin what it is told (a nonce and PKCE S256
always, the redirect URI from SITE_URL) and what we add: the binding to the
organization, single use, and a bounded number of sign-ins in flight.
"""

from __future__ import annotations

import re
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.utils.crypto import get_random_string
from mozilla_django_oidc.utils import (
    add_state_and_verifier_and_nonce_to_session,
    generate_code_challenge,
)

from connections.models import SignInEvent
from connections.oidc.flow import flow_bind
from connections.oidc.pkce import code_challenge_s256

from .fakeidp import Reply
from .helpers import (
    assert_refused,
    callback,
    query_of,
    signed_in_user_id,
    start_login,
)

pytestmark = pytest.mark.django_db

UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+")


def test_every_sign_in_gets_its_own_state_nonce_and_pkce_verifier(
    client, acme, acme_connection
):
    starts = [start_login(client) for _ in range(5)]

    entries = client.session["oidc_states"]
    values = set()
    for start in starts:
        entry = entries[start["state"]]
        verifier = entry["code_verifier"]
        # 43 letters and digits or more: at least 256 bits each.
        assert len(start["state"]) >= 43 and UNRESERVED.fullmatch(start["state"])
        assert entry["nonce"] == start["nonce"] and len(start["nonce"]) >= 43
        assert 43 <= len(verifier) <= 128 and UNRESERVED.fullmatch(verifier)
        assert start["code_challenge_method"] == "S256"
        assert start["code_challenge"] == code_challenge_s256(verifier)
        assert verifier not in start["_url"]
        values |= {start["state"], start["nonce"], verifier}
    assert len(values) == 15


def test_settings_cannot_turn_off_the_nonce_or_pkce_s256(
    client, acme, acme_connection, fake_idp, settings
):
    settings.OIDC_USE_NONCE = False
    settings.OIDC_USE_PKCE = False
    settings.OIDC_PKCE_CODE_CHALLENGE_METHOD = "plain"

    request = start_login(client)

    assert request["code_challenge_method"] == "S256"
    verifier = client.session["oidc_states"][request["state"]]["code_verifier"]
    assert request["code_challenge"] == code_challenge_s256(verifier)
    assert request["nonce"]
    fake_idp.next_id_token = fake_idp.id_token("not-the-nonce")
    assert_refused(client, callback(client, fake_idp.issuer, request["state"]), "nonce")


def test_the_redirect_uri_is_site_urls_whatever_the_host_header(
    client, acme, acme_connection, fake_idp, settings
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "console.internal"]
    response = client.get("/sso/login/acme/", HTTP_HOST="console.internal")
    request = query_of(response["Location"])
    assert request["redirect_uri"] == "http://testserver/sso/callback/"

    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    done = client.get(
        "/sso/callback/",
        {"code": "c", "state": request["state"], "iss": fake_idp.issuer},
        HTTP_HOST="console.internal",
    )

    assert done.status_code == 302, done.content.decode()[:2000]
    (token_request,) = fake_idp.seen("/token")
    assert token_request.form["redirect_uri"] == "http://testserver/sso/callback/"


def test_an_authorization_endpoint_with_a_query_keeps_it_and_our_parameters(
    client, acme, acme_connection, fake_idp
):
    # Azure AD B2C names its policy in the endpoint's query.
    fake_idp.metadata_changes["authorization_endpoint"] = (
        f"{fake_idp.origin}/authorize?p=b2c_1_signin&state=not-ours&scope=x"
    )

    request = start_login(client)

    assert request["_url"].startswith(f"{fake_idp.origin}/authorize?")
    assert request["_url"].count("?") == 1
    assert request["p"] == "b2c_1_signin"
    assert request["state"] in client.session["oidc_states"]
    assert request["scope"].split()[0] == "openid"
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    assert callback(client, fake_idp.issuer, request["state"]).status_code == 302


def test_too_many_sign_ins_in_flight_drop_the_oldest(
    client, acme, acme_connection, fake_idp, settings
):
    cap = settings.OIDC_MAX_STATES
    starts = [start_login(client) for _ in range(cap + 1)]

    assert len(client.session["oidc_states"]) == cap
    assert starts[0]["state"] not in client.session["oidc_states"]
    fake_idp.next_id_token = fake_idp.id_token(starts[0]["nonce"])
    event = assert_refused(
        client, callback(client, fake_idp.issuer, starts[0]["state"]), "state_unknown"
    )
    assert event.organization == acme
    assert fake_idp.count("/token") == 0

    fake_idp.next_id_token = fake_idp.id_token(starts[-1]["nonce"])
    assert callback(client, fake_idp.issuer, starts[-1]["state"]).status_code == 302
    assert signed_in_user_id(client) is not None


def test_a_state_from_another_browser_leaves_the_owners_sign_in_intact(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    intruder = Client()
    start_login(intruder)  # a session of its own, with its own states

    response = callback(intruder, fake_idp.issuer, request["state"])

    assert_refused(intruder, response, "state_unknown")
    assert fake_idp.count("/token") == 0
    assert callback(client, fake_idp.issuer, request["state"]).status_code == 302
    assert signed_in_user_id(client) is not None


@pytest.fixture
def cache_sessions(settings):
    # Sessions the IdP's thread can read and write too, as in production.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"


def _session_store(key: str):
    return import_module(django_settings.SESSION_ENGINE).SessionStore(key)


def _tokens(fake) -> Reply:
    return Reply.json(
        {
            "access_token": "fake-access-token",
            "token_type": "Bearer",
            "id_token": fake.next_id_token,
        }
    )


def test_the_state_is_spent_in_the_stored_session_before_the_token_request(
    cache_sessions, client, acme, acme_connection, fake_idp
):
    # So it stays spent even if the rest of the callback fails with a 500,
    # after which Django saves no session.
    request = start_login(client)
    key = client.session.session_key
    stored_at_token_request = []

    def token_reply(seen):
        states = _session_store(key).get("oidc_states", {})
        stored_at_token_request.append(request["state"] in states)
        return _tokens(fake_idp)

    fake_idp.token_reply = token_reply
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])

    assert callback(client, fake_idp.issuer, request["state"]).status_code == 302
    assert stored_at_token_request == [False]


def test_a_sign_in_started_in_another_tab_during_the_token_request_survives(
    cache_sessions, client, acme, acme_connection, fake_idp
):
    first = start_login(client)
    key = client.session.session_key
    config = acme_connection.live
    second = []

    def token_reply(seen):
        # Meanwhile another tab of this browser starts a sign-in, as the
        # library's request view and flow_bind store it.
        session = _session_store(key)
        state, nonce = get_random_string(43), get_random_string(43)
        verifier = get_random_string(64)
        params = {
            "nonce": nonce,
            "code_challenge": generate_code_challenge(verifier, "S256"),
        }
        add_state_and_verifier_and_nonce_to_session(
            SimpleNamespace(session=session), state, params, verifier
        )
        second.append(
            flow_bind(
                session,
                cache,
                state,
                organization_id=acme.pk,
                connection_id=acme_connection.pk,
                config_id=config.pk,
                issuer=config.issuer_url,
                redirect_uri="http://testserver/sso/callback/",
                ttl=600,
            )
        )
        session.save()
        return _tokens(fake_idp)

    fake_idp.token_reply = token_reply
    fake_idp.next_id_token = fake_idp.id_token(first["nonce"])

    assert callback(client, fake_idp.issuer, first["state"]).status_code == 302
    (other_tab,) = second
    assert client.session.session_key != key  # signed in: a new key, same data
    assert other_tab.state in client.session["oidc_states"]
    fake_idp.token_reply = None
    fake_idp.next_id_token = fake_idp.id_token(other_tab.nonce)
    assert callback(client, fake_idp.issuer, other_tab.state).status_code == 302


def test_an_old_copy_of_a_cookie_session_cannot_replay_its_state(
    client, acme, acme_connection, fake_idp, settings
):
    # With signed-cookie sessions the browser holds the state itself; a copy
    # of the cookie from before the callback still has it.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    request = start_login(client)
    old_copy = Client()
    for name, morsel in client.cookies.items():
        old_copy.cookies[name] = morsel.value
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    assert callback(client, fake_idp.issuer, request["state"]).status_code == 302
    assert request["state"] not in client.session.get("oidc_states", {})
    assert request["state"] in old_copy.session["oidc_states"]

    response = callback(old_copy, fake_idp.issuer, request["state"])

    assert_refused(old_copy, response, "state_reused")
    assert fake_idp.count("/token") == 1


def test_a_state_replayed_in_the_same_browser_after_a_sign_in_is_refused(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])
    assert callback(client, fake_idp.issuer, request["state"]).status_code == 302
    user_id = signed_in_user_id(client)

    response = callback(client, fake_idp.issuer, request["state"])

    assert response.status_code == 400
    assert SignInEvent.objects.order_by("-id").first().step == "state_reused"
    assert fake_idp.count("/token") == 1
    assert signed_in_user_id(client) == user_id  # still the same session


def test_a_state_answered_with_an_idp_error_cannot_be_used_again(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    cancelled = callback(
        client, fake_idp.issuer, request["state"], code=None, error="access_denied"
    )
    assert_refused(client, cancelled, "idp_error")
    fake_idp.next_id_token = fake_idp.id_token(request["nonce"])

    response = callback(client, fake_idp.issuer, request["state"])

    assert_refused(client, response, "state_reused")
    assert fake_idp.count("/token") == 0
