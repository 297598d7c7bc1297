"""Smoke tests of the test IdP fixture itself: plain HTTP, no Django, no database."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from tests.fixtures import idp as idp_plugin
from tests.fixtures.idp import IdP, IdPFlowError

CLIENT_ID = "console-test"
CLIENT_SECRET = "s3cret-value"
REDIRECT_URI = "http://testserver/sso/callback/"
POST_LOGOUT_URI = "http://testserver/signed-out/"
TIMEOUT = 10


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize_url(
    idp: IdP, challenge: str | None, *, state: str = "st", **extra: str
) -> str:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile groups",
        "state": state,
        "nonce": "n-0S6_WzA2Mj",
        **extra,
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{idp.metadata['authorization_endpoint']}?{urlencode(params)}"


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _token_request(idp: IdP, data: dict[str, str], **kwargs: Any) -> requests.Response:
    return idp.http_session().post(
        idp.metadata["token_endpoint"], data=data, timeout=TIMEOUT, **kwargs
    )


def _verified_id_token(idp: IdP, id_token: str) -> dict[str, Any]:
    jwks = idp.http_session().get(idp.metadata["jwks_uri"], timeout=TIMEOUT).json()
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    return jwt.decode(
        id_token,
        key=key.key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=idp.issuer,
    )


def _sign_in(idp: IdP, browser: requests.Session, email: str) -> dict[str, Any]:
    """Runs the whole code + PKCE flow and returns the token response."""
    verifier, challenge = _pkce()
    callback = idp.login(browser, _authorize_url(idp, challenge), email)
    code = _query(callback)["code"]
    response = _token_request(
        idp,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def idp(clean_oidc_idp: IdP) -> IdP:
    clean_oidc_idp.add_client(
        CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], [POST_LOGOUT_URI]
    )
    clean_oidc_idp.add_account(
        "00u1", "ada@example.com", groups=["Engineering", "Admins"], name="Ada L"
    )
    return clean_oidc_idp


def test_discovery_advertises_what_the_console_relies_on(idp: IdP) -> None:
    metadata = idp.metadata
    assert metadata["issuer"] == idp.issuer
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        metadata["token_endpoint_auth_methods_supported"]
    )
    assert {"openid", "email", "profile", "groups"} <= set(metadata["scopes_supported"])
    assert metadata["end_session_endpoint"].startswith(idp.issuer + "/")
    path_doc = idp.http_session().get(
        idp.path_issuer + "/.well-known/openid-configuration", timeout=TIMEOUT
    )
    assert path_doc.json()["issuer"] == idp.path_issuer


def test_code_flow_with_pkce_yields_signed_id_token_with_groups(idp: IdP) -> None:
    verifier, challenge = _pkce()
    callback = idp.login(
        idp.http_session(),
        _authorize_url(idp, challenge, state="xyz"),
        "ada@example.com",
    )

    assert callback.startswith(REDIRECT_URI + "?")
    params = _query(callback)
    assert params["state"] == "xyz"
    assert params["iss"] == idp.issuer
    response = _token_request(
        idp,
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    claims = _verified_id_token(idp, response.json()["id_token"])
    assert claims["sub"] == "00u1"
    assert claims["email"] == "ada@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Ada L"
    assert claims["groups"] == ["Engineering", "Admins"]
    assert claims["nonce"] == "n-0S6_WzA2Mj"


def test_token_exchange_fails_with_a_wrong_code_verifier(idp: IdP) -> None:
    _, challenge = _pkce()
    callback = idp.login(
        idp.http_session(), _authorize_url(idp, challenge), "ada@example.com"
    )
    response = _token_request(
        idp,
        {
            "grant_type": "authorization_code",
            "code": _query(callback)["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": _pkce()[0],
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_authorize_without_pkce_is_refused(idp: IdP) -> None:
    callback = idp.sso_redirect(idp.http_session(), _authorize_url(idp, None))

    assert callback is not None
    assert _query(callback)["error"] == "invalid_request"


def test_token_endpoint_tells_bad_client_credentials_apart(idp: IdP) -> None:
    probe = {"grant_type": "client_credentials"}

    good_basic = _token_request(idp, probe, auth=(CLIENT_ID, CLIENT_SECRET))
    good_post = _token_request(
        idp, probe | {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    )
    wrong_secret = _token_request(idp, probe, auth=(CLIENT_ID, "nope"))
    unknown_client = _token_request(idp, probe, auth=("who", CLIENT_SECRET))

    assert good_basic.status_code == 200, good_basic.text
    assert good_post.status_code == 200, good_post.text
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert unknown_client.status_code == 401
    assert unknown_client.json()["error"] == "invalid_client"


def test_wrong_password_is_refused_and_login_hint_prefills(idp: IdP) -> None:
    browser = idp.http_session()
    url = _authorize_url(idp, _pkce()[1], login_hint="ada@example.com")
    page = browser.get(url, timeout=TIMEOUT)
    assert 'value="ada@example.com"' in page.text
    assert '<label for="password">Password</label>' in page.text

    with pytest.raises(IdPFlowError, match="refused to sign in"):
        idp.login(idp.http_session(), url, "ada@example.com", password="wrong")


def test_set_groups_changes_the_next_id_token(idp: IdP) -> None:
    idp.set_groups("00u1", ["Support"])

    tokens = _sign_in(idp, idp.http_session(), "ada@example.com")

    assert _verified_id_token(idp, tokens["id_token"])["groups"] == ["Support"]


def test_rotate_keys_signs_with_a_new_kid(idp: IdP) -> None:
    before = idp.kids()

    kept = idp.rotate_keys(keep_old=True)
    assert kept not in before
    assert set(before) < set(idp.kids())
    new = idp.rotate_keys()

    assert idp.kids()[0] == new
    assert not set(before) & set(idp.kids())
    tokens = _sign_in(idp, idp.http_session(), "ada@example.com")
    assert jwt.get_unverified_header(tokens["id_token"])["kid"] == new


def test_request_counts_count_each_path_until_reset(idp: IdP) -> None:
    idp.reset_counts()
    session = idp.http_session()
    for _ in range(2):
        session.get(idp.metadata["jwks_uri"], timeout=TIMEOUT)
    session.get(idp.discovery_url, timeout=TIMEOUT)

    assert idp.count(idp.metadata["jwks_uri"]) == 2
    assert idp.count(idp.discovery_url) == 1
    idp.reset_counts()
    assert idp.request_counts() == {}


def test_logout_ends_the_idp_session(idp: IdP) -> None:
    browser = idp.http_session()
    tokens = _sign_in(idp, browser, "ada@example.com")
    assert [s["account_id"] for s in idp.sessions()] == ["00u1"]
    assert idp.sso_redirect(browser, _authorize_url(idp, _pkce()[1])) is not None

    end_session = (
        idp.metadata["end_session_endpoint"]
        + "?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": POST_LOGOUT_URI,
                "state": "bye",
            }
        )
    )
    landing = idp.logout(browser, end_session)

    assert landing == POST_LOGOUT_URI + "?state=bye"
    assert idp.sessions() == []
    assert idp.sso_redirect(browser, _authorize_url(idp, _pkce()[1])) is None


def test_cancel_returns_access_denied(idp: IdP) -> None:
    callback = idp.cancel_login(idp.http_session(), _authorize_url(idp, _pkce()[1]))

    assert _query(callback)["error"] == "access_denied"


def test_injected_fault_answers_instead_of_the_endpoint(idp: IdP) -> None:
    idp.set_fault(idp.metadata["jwks_uri"], 503, times=1)
    session = idp.http_session()

    assert session.get(idp.metadata["jwks_uri"], timeout=TIMEOUT).status_code == 503
    assert session.get(idp.metadata["jwks_uri"], timeout=TIMEOUT).status_code == 200


def test_authorization_code_cannot_be_redeemed_twice(idp: IdP) -> None:
    verifier, challenge = _pkce()
    callback = idp.login(
        idp.http_session(), _authorize_url(idp, challenge), "ada@example.com"
    )
    exchange = {
        "grant_type": "authorization_code",
        "code": _query(callback)["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }

    first = _token_request(idp, exchange, auth=(CLIENT_ID, CLIENT_SECRET))
    second = _token_request(idp, exchange, auth=(CLIENT_ID, CLIENT_SECRET))

    assert first.status_code == 200, first.text
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_path_issuer_has_its_own_flow_and_session(idp: IdP) -> None:
    idp.add_client(
        CLIENT_ID,
        CLIENT_SECRET,
        [REDIRECT_URI],
        id_token_signed_response_alg="ES256",
        token_endpoint_auth_method="client_secret_post",
    )
    idp.add_account("00u2", "bob@example.com", groups=None)
    browser = idp.http_session()
    path_metadata = browser.get(
        idp.path_issuer + "/.well-known/openid-configuration", timeout=TIMEOUT
    ).json()
    verifier, challenge = _pkce()
    authorize = _authorize_url(idp, challenge).replace(
        idp.metadata["authorization_endpoint"],
        path_metadata["authorization_endpoint"],
    )

    params = _query(idp.login(browser, authorize, "bob@example.com"))
    response = browser.post(
        path_metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=TIMEOUT,
    )

    assert params["iss"] == idp.path_issuer
    id_token = response.json()["id_token"]
    assert jwt.get_unverified_header(id_token)["alg"] == "ES256"
    claims = jwt.decode(id_token, options={"verify_signature": False})
    assert claims["iss"] == idp.path_issuer
    assert "groups" not in claims
    assert [s["issuer"] for s in idp.sessions()] == [idp.path_issuer]
    assert idp.sso_redirect(browser, _authorize_url(idp, _pkce()[1])) is None


def test_missing_node_modules_fails_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(idp_plugin, "INSTALLED_MARKER", tmp_path / "absent.json")

    with pytest.raises(pytest.fail.Exception, match=r"npm ci --prefix tests/idp"):
        idp_plugin.start_idp(tmp_path)
