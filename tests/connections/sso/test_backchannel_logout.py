"""OpenID Connect Back-Channel Logout: POST /sso/backchannel-logout/.

A logout token signed by the organization's IdP ends the sessions it names at
the person's next request; every hostile or malformed one answers 400 JSON
(503 when the IdP's keys cannot be read), with Cache-Control: no-store, and
ends nobody's session. Each hostile token below breaks exactly one rule of
Back-Channel Logout 1.0 section 2.6, so it would be accepted (200, session
ended) if that rule were not checked.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import OperationalError
from django.test import Client

from accounts.models import SessionRecord
from connections.oidc.logout import BACKCHANNEL_LOGOUT_EVENT
from connections.oidc.tokens import MAX_TOKEN_CHARS
from connections.services import logout
from organizations.models import AuditEvent
from tests.factories import make_org

from .fakeidp import CLIENT_ID, CLIENT_SECRET, Reply, b64url, ec_key, rsa_key
from .helpers import callback, make_connection, start_login, verify_domain

pytestmark = pytest.mark.django_db

URL = "/sso/backchannel-logout/"
FORM = "application/x-www-form-urlencoded"


def sign_in(client: Client, fake, **claims: Any) -> None:
    request = start_login(client, "acme")
    fake.next_id_token = fake.id_token(request["nonce"], **claims)
    assert callback(client, fake.issuer, request["state"]).status_code == 302
    assert signed_in(client)


def signed_in(client: Client) -> bool:
    return (
        client.get("/accounts/me/", HTTP_ACCEPT="application/json").status_code == 200
    )


def logout_claims(fake, **changes: Any) -> dict[str, Any]:
    """Good logout token claims; ``None`` values remove a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": fake.issuer,
        "aud": CLIENT_ID,
        "iat": now - 2,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "sub": "00u-ada",
        "sid": "idp-s-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def logout_token(
    fake,
    *,
    typ: str | None = "logout+jwt",
    alg: str = "RS256",
    kid: str | None = "rsa-1",
    key: Any = None,
    **changes: Any,
) -> str:
    headers: dict[str, Any] = {"typ": typ}  # None: PyJWT leaves typ out
    if kid is not None:
        headers["kid"] = kid
    if key is None:
        key = ec_key() if alg.startswith("ES") else rsa_key()
    return jwt.encode(
        logout_claims(fake, **changes), key, algorithm=alg, headers=headers
    )


def post_token(token: str) -> Any:
    """POST the token as an IdP does: form-encoded, no cookie."""
    return Client().post(URL, urlencode({"logout_token": token}), content_type=FORM)


def assert_invalid(response, code: str) -> dict[str, Any]:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["error"] == "invalid_request"
    assert body["error_description"]
    assert body["code"] == code, body
    return body


@pytest.fixture
def ada(acme, acme_connection, fake_idp) -> Client:
    """Ada, signed in through Acme's IdP in the IdP session 'idp-s-1'."""
    client = Client()
    sign_in(client, fake_idp, sub="00u-ada", email="ada@acme.test", sid="idp-s-1")
    return client


# ------------------------------------------------------------ accepted


def test_a_logout_token_with_sid_ends_that_session(ada, acme, fake_idp):
    response = post_token(logout_token(fake_idp))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.content == b""
    assert not signed_in(ada)
    assert not SessionRecord.objects.exists()
    event = AuditEvent.objects.get(action="sso.backchannel_logout")
    assert event.organization_id == acme.pk
    assert event.details["by"] == "sid"
    assert event.details["sessions_ended"] == 1


def test_sid_ends_only_that_idp_session(acme, acme_connection, fake_idp):
    first, second = Client(), Client()
    sign_in(first, fake_idp, sub="00u-ada", sid="s-1")
    sign_in(second, fake_idp, sub="00u-ada", sid="s-2")

    assert post_token(logout_token(fake_idp, sid="s-1")).status_code == 200

    assert not signed_in(first)
    assert signed_in(second)


def test_a_token_with_only_sub_ends_every_session_of_that_person(
    acme, acme_connection, fake_idp
):
    first, second, grace = Client(), Client(), Client()
    sign_in(first, fake_idp, sub="00u-ada", sid="s-1")
    sign_in(second, fake_idp, sub="00u-ada")
    sign_in(grace, fake_idp, sub="00u-grace", email="grace@acme.test", sid="s-3")

    response = post_token(logout_token(fake_idp, sid=None, sub="00u-ada"))

    assert response.status_code == 200
    assert not signed_in(first) and not signed_in(second)
    assert signed_in(grace)
    event = AuditEvent.objects.get(action="sso.backchannel_logout")
    assert (event.details["by"], event.details["sessions_ended"]) == ("sub", 2)
    assert event.target == "00u-ada"


def test_an_unknown_session_is_still_accepted(ada, fake_idp):
    # Spec 2.8: the logout succeeded; there was simply nothing to end here.
    assert post_token(logout_token(fake_idp, sid="never-seen")).status_code == 200
    nobody = logout_token(fake_idp, sid=None, sub="00u-nobody")
    assert post_token(nobody).status_code == 200
    assert signed_in(ada)


@pytest.mark.parametrize("typ", [None, "logout+jwt", "application/logout+jwt"])
def test_typ_is_optional_and_may_be_the_media_type(ada, fake_idp, typ):
    assert post_token(logout_token(fake_idp, typ=typ)).status_code == 200
    assert not signed_in(ada)


def test_an_es256_token_is_accepted(ada, fake_idp):
    assert (
        post_token(logout_token(fake_idp, alg="ES256", kid="ec-1")).status_code == 200
    )
    assert not signed_in(ada)


def test_the_audience_picks_the_organization_among_those_sharing_an_issuer(
    ada, acme, fake_idp
):
    # One IdP tenant serving two organizations, each with its own app.
    globex = make_org("globex")
    verify_domain(globex, "globex.test")
    make_connection(globex, issuer=fake_idp.issuer, client_id="globex-client")

    response = post_token(logout_token(fake_idp, aud="globex-client"))

    assert response.status_code == 200
    assert signed_in(ada)  # Ada's session reaches Acme only
    event = AuditEvent.objects.get(action="sso.backchannel_logout")
    assert event.organization_id == globex.pk
    assert event.details["sessions_ended"] == 0

    assert post_token(logout_token(fake_idp, aud=CLIENT_ID)).status_code == 200
    assert not signed_in(ada)


def test_a_rotated_key_is_fetched_once(ada, fake_idp):
    post_token(logout_token(fake_idp, sid="warm-the-cache"))
    fetched = fake_idp.count("/jwks")
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake_idp.jwks_keys.append(fake_idp.public_jwk(rotated, "rsa-2", "RS256"))

    response = post_token(logout_token(fake_idp, kid="rsa-2", key=rotated))

    assert response.status_code == 200
    assert fake_idp.count("/jwks") == fetched + 1
    assert not signed_in(ada)


# ------------------------------------------------------------ hostile tokens


def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa_key("attacker")


HOSTILE = {
    "bad signature": ({"key": "attacker"}, "signature"),
    "unknown kid": ({"kid": "made-up", "key": "attacker"}, "kid"),
    "wrong issuer": ({"iss": "https://evil.example"}, "iss"),
    "wrong audience": ({"aud": "someone-else"}, "aud"),
    "also another audience": ({"aud": [CLIENT_ID, "someone-else"]}, "aud"),
    "other azp": ({"azp": "someone-else"}, "azp"),
    "iat too old": ({"iat": int(time.time()) - 3600, "exp": None}, "iat"),
    "iat in the future": ({"iat": int(time.time()) + 3600}, "iat"),
    "no iat": ({"iat": None}, "iat"),
    "iat not a number": ({"iat": "now"}, "iat"),
    "expired": ({"exp": int(time.time()) - 600}, "exp"),
    "no events": ({"events": None}, "events"),
    "events not an object": ({"events": [BACKCHANNEL_LOGOUT_EVENT]}, "events"),
    "event value not an object": (
        {"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}},
        "events",
    ),
    "wrong event": (
        {"events": {"http://schemas.openid.net/event/other": {}}},
        "events",
    ),
    "neither sid nor sub": ({"sid": None, "sub": None}, "sid"),
    "sid not a string": ({"sid": 12}, "sid"),
    "empty sid": ({"sid": "", "sub": None}, "sid"),
    "sub too long": ({"sid": None, "sub": "x" * 256}, "sub"),
    "nonce": ({"nonce": "n-1"}, "nonce"),
    "no jti": ({"jti": None}, "jti"),
    "jti not a string": ({"jti": 7}, "jti"),
    "typ JWT (an ID token)": ({"typ": "JWT"}, "typ"),
    "typ at+jwt": ({"typ": "at+jwt"}, "typ"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_a_hostile_logout_token_is_refused_and_ends_nothing(ada, fake_idp, case):
    changes, code = HOSTILE[case]
    changes = dict(changes)
    if changes.get("key") == "attacker":
        changes["key"] = other_rsa_key()

    assert_invalid(post_token(logout_token(fake_idp, **changes)), code)

    assert signed_in(ada)
    assert not AuditEvent.objects.filter(action="sso.backchannel_logout").exists()


def test_an_unsigned_token_is_refused(ada, fake_idp):
    header = b64url(json.dumps({"alg": "none", "typ": "logout+jwt"}).encode())
    body = b64url(json.dumps(logout_claims(fake_idp)).encode())
    token = f"{header}.{body}."
    assert_invalid(post_token(token), "alg")
    assert signed_in(ada)


def test_a_token_signed_with_the_client_secret_is_refused(ada, fake_idp):
    token = jwt.encode(
        logout_claims(fake_idp),
        CLIENT_SECRET,
        algorithm="HS256",
        headers={"typ": "logout+jwt"},
    )
    assert_invalid(post_token(token), "alg")
    assert signed_in(ada)


def test_an_id_token_is_not_a_logout_token(ada, fake_idp):
    # A real ID token of this IdP, with the logout claims added: its typ (JWT)
    # and nonce both mark it as another kind of token.
    claims = fake_idp.claims("n-1", sid="idp-s-1", jti="j-1")
    claims["events"] = {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert_invalid(post_token(fake_idp.sign(claims)), "typ")
    assert signed_in(ada)


def test_the_issuer_of_a_draft_only_connection_is_refused(
    ada, fake_idp, other_fake_idp
):
    globex = make_org("globex")
    make_connection(globex, issuer=other_fake_idp.issuer, live=False)
    # The fake IdPs share their keys: only the missing live connection refuses.
    token = logout_token(other_fake_idp)

    assert_invalid(post_token(token), "iss")
    assert signed_in(ada)
    assert other_fake_idp.count("/jwks") == 0


def test_a_replayed_jti_is_refused(acme, acme_connection, fake_idp):
    token = logout_token(fake_idp, sid="s-1")
    first = Client()
    sign_in(first, fake_idp, sid="s-1")
    assert post_token(token).status_code == 200
    again = Client()
    sign_in(again, fake_idp, sid="s-1")

    assert_invalid(post_token(token), "jti_replayed")

    assert signed_in(again)
    assert AuditEvent.objects.filter(action="sso.backchannel_logout").count() == 1


def test_a_token_for_an_ended_connection_is_refused(ada, acme_connection, fake_idp):
    acme_connection.live = None
    acme_connection.save(update_fields=["live"])
    assert_invalid(post_token(logout_token(fake_idp)), "iss")


# ------------------------------------------------------------ bad requests


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("garbage", "malformed"),
        ("a.b.c", "malformed"),
        ("x" * (MAX_TOKEN_CHARS + 1), "malformed"),
        ("eyJhbGciOiJSUzI1NiJ9.e30.", "iss"),  # {"alg":"RS256"}.{}
    ],
    ids=["garbage", "three-parts-not-base64-json", "huge", "no-claims"],
)
def test_a_malformed_token_is_refused(ada, token, code):
    assert_invalid(post_token(token), code)
    assert signed_in(ada)


def test_a_get_is_refused(ada):
    response = Client().get(URL, {"logout_token": "x"})
    assert_invalid(response, "method_not_post")
    assert response["Allow"] == "POST"


def test_a_json_body_is_refused(ada, fake_idp):
    response = Client().post(
        URL,
        json.dumps({"logout_token": logout_token(fake_idp)}),
        content_type="application/json",
    )
    assert_invalid(response, "not_form_encoded")
    assert signed_in(ada)


def test_a_multipart_body_is_refused(ada, fake_idp):
    # Django's test client posts multipart by default.
    response = Client().post(URL, {"logout_token": logout_token(fake_idp)})
    assert_invalid(response, "not_form_encoded")
    assert signed_in(ada)


def test_a_missing_logout_token_is_refused(ada):
    response = Client().post(URL, "other=1", content_type=FORM)
    assert_invalid(response, "logout_token_missing")


def test_two_logout_tokens_are_refused(ada, fake_idp):
    token = logout_token(fake_idp)
    body = urlencode([("logout_token", token), ("logout_token", token)])
    assert_invalid(Client().post(URL, body, content_type=FORM), "logout_token_missing")
    assert signed_in(ada)


def test_a_body_over_the_upload_limit_is_refused(ada, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = Client().post(URL, "logout_token=" + "x" * 20_000, content_type=FORM)
    assert_invalid(response, "body_too_large")


def test_the_endpoint_needs_no_csrf_token(ada, fake_idp):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        URL, urlencode({"logout_token": logout_token(fake_idp)}), content_type=FORM
    )
    assert response.status_code == 200
    assert not signed_in(ada)


# ------------------------------------------------------------ the IdP is down


def test_an_unreadable_key_set_answers_503_and_ends_nothing(ada, fake_idp):
    # A key the cached set lacks makes one reload, which the IdP fails.
    original = fake_idp.answer

    def broken(request):
        if request.path == fake_idp.jwks_path:
            return Reply.json({"error": "down"}, status=500)
        return original(request)

    fake_idp.answer = broken
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = post_token(logout_token(fake_idp, kid="rsa-new", key=rotated))

    assert response.status_code == 503
    assert response["Cache-Control"] == "no-store"
    assert response["Retry-After"]
    assert json.loads(response.content)["error"] == "temporarily_unavailable"
    assert signed_in(ada)


def test_a_database_that_does_not_answer_gives_503_not_500(ada, fake_idp, monkeypatch):
    def down(issuer):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(logout, "live_configs_for_issuer", down)
    response = post_token(logout_token(fake_idp))

    assert response.status_code == 503
    assert response["Cache-Control"] == "no-store"
    assert json.loads(response.content)["code"] == "server_unavailable"
    assert signed_in(ada)
