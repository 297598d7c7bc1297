"""private_key_jwt without the IdP: the assertion's claims, the keys, the JWKS,
rotation, and that no private key member reaches a page or a JSON view."""

from __future__ import annotations

import jwt
import pytest

from connections.models import Connection, ConnectionConfig, SigningKey
from connections.oidc.client_auth import (
    ASSERTION_TYPE,
    AssertionKey,
    client_assertion,
    client_auth,
    token_auth_method,
)
from connections.oidc.client_keys import (
    PRIVATE_MEMBERS,
    public_only,
    signing_key_generate,
)
from connections.services.connections import connection_update
from connections.services.signing_keys import (
    assertion_key_for,
    signing_key_activate,
    signing_key_add,
    signing_key_retire,
)
from organizations.errors import PermissionDenied, ServiceError
from organizations.models import AuditEvent
from tests.connections.conftest import make_connection, private_key_values
from tests.factories import make_member

TOKEN_ENDPOINT = "https://idp.example/oauth2/v1/token"
BASIC, POST, PKJWT = "client_secret_basic", "client_secret_post", "private_key_jwt"


def _key(alg: str = "RS256") -> tuple[AssertionKey, dict]:
    generated = signing_key_generate(alg)
    return (
        AssertionKey(generated.kid, generated.alg, generated.private_pem),
        generated.public_jwk,
    )


# ------------------------------------------------------------ pure protocol code


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_assertion_carries_the_claims_rfc_7523_asks_for(alg):
    key, public = _key(alg)
    assertion = client_assertion(
        client_id="console-app", audience=TOKEN_ENDPOINT, key=key, now=1_800_000_000
    )
    header = jwt.get_unverified_header(assertion)
    assert (header["alg"], header["kid"]) == (alg, key.kid)
    claims = jwt.decode(
        assertion,
        jwt.PyJWK(public).key,
        algorithms=[alg],
        audience=TOKEN_ENDPOINT,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims["iss"] == claims["sub"] == "console-app"
    assert claims["aud"] == TOKEN_ENDPOINT
    assert claims["iat"] == 1_800_000_000
    assert claims["exp"] - claims["iat"] == 60
    assert len(claims["jti"]) >= 32


def test_every_assertion_has_its_own_jti():
    key, _public = _key()
    jtis = {
        jwt.decode(
            client_assertion(client_id="c", audience=TOKEN_ENDPOINT, key=key),
            options={"verify_signature": False},
        )["jti"]
        for _ in range(20)
    }
    assert len(jtis) == 20


def test_another_key_does_not_verify_the_assertion():
    key, _public = _key()
    _other, other_public = _key()
    assertion = client_assertion(client_id="c", audience=TOKEN_ENDPOINT, key=key)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            assertion,
            jwt.PyJWK(other_public).key,
            algorithms=["RS256"],
            audience=TOKEN_ENDPOINT,
        )


def test_private_key_jwt_sends_an_assertion_and_no_secret():
    key, _public = _key()
    sent = client_auth(
        "private_key_jwt", "console-app", token_endpoint=TOKEN_ENDPOINT, key=key
    )
    assert sent.basic is None
    assert set(sent.data) == {"client_id", "client_assertion_type", "client_assertion"}
    assert sent.data["client_assertion_type"] == ASSERTION_TYPE
    assert "client_secret" not in sent.data
    assert key.private_pem not in repr(sent) and key.private_pem not in repr(key)


def test_private_key_jwt_without_a_key_is_a_programming_error():
    with pytest.raises(ValueError):
        client_auth("private_key_jwt", "c", token_endpoint=TOKEN_ENDPOINT)


@pytest.mark.parametrize(
    ("advertised", "configured", "has_secret", "expected"),
    [
        (["client_secret_post", "client_secret_basic"], "", True, BASIC),
        (["private_key_jwt", "client_secret_post"], "", True, POST),
        (["private_key_jwt"], "", True, None),
        (["private_key_jwt", "client_secret_basic"], "", False, PKJWT),
        (["client_secret_basic"], PKJWT, False, None),
        (["client_secret_basic", "private_key_jwt"], PKJWT, False, PKJWT),
        (["client_secret_basic", "client_secret_post"], POST, True, POST),
    ],
)
def test_the_method_is_the_configured_one_or_the_first_of_ours_advertised(
    advertised, configured, has_secret, expected
):
    assert token_auth_method(advertised, configured, has_secret=has_secret) == expected


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_generated_public_key_has_no_private_member(alg):
    generated = signing_key_generate(alg)
    assert not PRIVATE_MEMBERS & set(generated.public_jwk)
    assert generated.public_jwk["kid"] == generated.kid
    assert generated.public_jwk["use"] == "sig"
    assert "PRIVATE KEY" in generated.private_pem
    assert generated.private_pem not in repr(generated)


def test_public_only_drops_private_members_of_a_full_private_jwk():
    full = {
        "kty": "RSA",
        "kid": "k",
        "n": "n",
        "e": "AQAB",
        "d": "secret-d",
        "p": "secret-p",
        "q": "secret-q",
        "dp": "x",
        "dq": "y",
        "qi": "z",
    }
    assert public_only(full) == {"kty": "RSA", "kid": "k", "n": "n", "e": "AQAB"}


# ------------------------------------------------------------------- services


@pytest.fixture
def pkjwt_connection(owner_membership) -> Connection:
    return make_connection(
        owner_membership,
        "https://acme.okta.com",
        secret="",
        token_auth_method="private_key_jwt",
    )


def test_a_private_key_jwt_connection_stores_no_secret_and_gets_a_key(
    pkjwt_connection,
):
    draft = pkjwt_connection.draft
    assert draft.token_auth_method == "private_key_jwt"
    assert draft.client_secret_encrypted == ""
    assert draft.client_secret == ""
    key = SigningKey.objects.get(connection=pkjwt_connection)
    assert key.state == "active"
    # Encrypted at rest: the PEM is not in the row.
    assert "PRIVATE KEY" not in key.private_key_encrypted
    signer = assertion_key_for(pkjwt_connection.pk)
    assert signer is not None and "PRIVATE KEY" in signer.private_pem
    assert AuditEvent.objects.filter(
        action="connection.signing_key_created", details__kid=key.kid
    ).exists()


def test_a_secret_with_private_key_jwt_is_refused(owner_membership):
    with pytest.raises(ServiceError) as refused:
        make_connection(
            owner_membership,
            "https://acme.okta.com",
            secret="a-secret",
            token_auth_method="private_key_jwt",
        )
    assert refused.value.code == "client_secret_not_used"


def test_an_unknown_method_is_refused(owner_membership):
    with pytest.raises(ServiceError) as refused:
        make_connection(
            owner_membership, "https://acme.okta.com", token_auth_method="tls"
        )
    assert refused.value.code == "token_auth_method_invalid"


def test_left_out_the_method_is_left_to_discovery_and_the_fingerprint_unchanged(
    owner_membership,
):
    connection = make_connection(owner_membership, "https://acme.okta.com")
    draft = connection.draft
    assert draft.token_auth_method == ""
    chosen = ConnectionConfig(
        connection=connection,
        issuer_url=draft.issuer_url,
        client_id=draft.client_id,
        client_secret_encrypted=draft.client_secret_encrypted,
        scopes=draft.scopes,
        token_auth_method="client_secret_post",
    )
    # A changed method is a changed configuration: it needs a new check.
    assert chosen.compute_fingerprint() != draft.fingerprint


def test_switching_to_private_key_jwt_drops_the_secret_in_a_new_draft(
    owner_membership,
):
    connection = make_connection(owner_membership, "https://acme.okta.com")
    old_draft = connection.draft
    connection_update(
        actor_membership=owner_membership,
        connection=connection,
        name=connection.name,
        issuer_url=old_draft.issuer_url,
        client_id=old_draft.client_id,
        token_auth_method="private_key_jwt",
    )
    connection.refresh_from_db()
    assert connection.draft_id != old_draft.pk
    assert connection.draft.client_secret_encrypted == ""
    assert connection.draft.fingerprint != old_draft.fingerprint
    assert connection.signing_keys.filter(state="active").count() == 1
    event = AuditEvent.objects.filter(action="connection.updated").latest("id")
    assert "token_auth_method" in event.details["changed"]


def test_rotation_add_publish_switch_retire(owner_membership, pkjwt_connection, client):
    client.force_login(owner_membership.user)
    first = pkjwt_connection.signing_keys.get()
    added = signing_key_add(
        actor_membership=owner_membership, connection=pkjwt_connection, alg="ES256"
    )
    assert added.state == "published"
    kids = {k["kid"] for k in client.get("/sso/jwks/acme/").json()["keys"]}
    assert kids == {first.kid, added.kid}
    # Still signing with the first key until the switch.
    assert assertion_key_for(pkjwt_connection.pk).kid == first.kid

    with pytest.raises(ServiceError) as refused:
        signing_key_add(actor_membership=owner_membership, connection=pkjwt_connection)
    assert refused.value.code == "signing_key_pending"

    signing_key_activate(
        actor_membership=owner_membership, connection=pkjwt_connection, kid=added.kid
    )
    assert assertion_key_for(pkjwt_connection.pk).kid == added.kid
    with pytest.raises(ServiceError) as refused:
        signing_key_retire(
            actor_membership=owner_membership,
            connection=pkjwt_connection,
            kid=added.kid,
        )
    assert refused.value.code == "signing_key_active"

    signing_key_retire(
        actor_membership=owner_membership, connection=pkjwt_connection, kid=first.kid
    )
    first.refresh_from_db()
    assert (first.state, first.private_key_encrypted) == ("retired", "")
    kids = {k["kid"] for k in client.get("/sso/jwks/acme/").json()["keys"]}
    assert kids == {added.kid}
    actions = list(
        AuditEvent.objects.filter(action__startswith="connection.signing_key")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "connection.signing_key_created",
        "connection.signing_key_created",
        "connection.signing_key_activated",
        "connection.signing_key_retired",
    ]


def test_only_the_owner_rotates_keys(org, pkjwt_connection):
    admin = make_member(org, role="admin")
    with pytest.raises(PermissionDenied):
        signing_key_add(actor_membership=admin, connection=pkjwt_connection)


def test_the_rotation_buttons_post_and_say_what_happened(
    owner_membership, pkjwt_connection, client
):
    client.force_login(owner_membership.user)
    base = f"/orgs/acme/connections/{pkjwt_connection.pk}/keys/"
    response = client.post(base + "add/", {"alg": "ES256"}, follow=True)
    assert response.status_code == 200
    added = pkjwt_connection.signing_keys.get(state="published")
    assert added.kid in response.content.decode()
    response = client.post(base + f"{added.kid}/activate/", follow=True)
    assert response.status_code == 200
    added.refresh_from_db()
    assert added.state == "active"
    # Unknown key, bad algorithm: a sentence, never a 500.
    response = client.post(base + "nope/retire/", HTTP_ACCEPT="application/json")
    assert (response.status_code, response.json()["code"]) == (
        400,
        "signing_key_unknown",
    )
    response = client.post(
        base + "add/", {"alg": "HS256"}, HTTP_ACCEPT="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (
        400,
        "signing_alg_invalid",
    )


# ------------------------------------------------------------------ the JWKS


def test_the_jwks_is_public_cacheable_briefly_and_public_members_only(
    pkjwt_connection, client
):
    response = client.get("/sso/jwks/acme/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    assert "public" in response["Cache-Control"]
    assert "max-age=300" in response["Cache-Control"]
    keys = response.json()["keys"]
    assert len(keys) == 1
    assert set(keys[0]) == {"kty", "kid", "use", "alg", "n", "e"}


def test_an_unknown_login_path_has_no_jwks(db, client):
    assert client.get("/sso/jwks/nobody-here/").status_code == 404
    assert client.get("/sso/jwks/%00bad/").status_code == 404


def test_no_private_key_member_appears_in_any_page_or_json(
    owner_membership, pkjwt_connection, client
):
    client.force_login(owner_membership.user)
    secrets = private_key_values(pkjwt_connection)
    assert len(secrets) == 7
    pages = [
        client.get(f"/orgs/acme/connections/{pkjwt_connection.pk}/"),
        client.get(
            f"/orgs/acme/connections/{pkjwt_connection.pk}/",
            HTTP_ACCEPT="application/json",
        ),
        client.get("/orgs/acme/connections/"),
        client.get("/orgs/acme/connections/", HTTP_ACCEPT="application/json"),
        client.get(f"/orgs/acme/connections/{pkjwt_connection.pk}/edit/"),
        client.get("/orgs/acme/audit/"),
        client.get("/sso/jwks/acme/"),
    ]
    for response in pages:
        assert response.status_code == 200, response
        body = response.content.decode()
        for value in secrets:
            assert value not in body
        for member in ('"d"', '"p"', '"q"', '"dp"', '"dq"', '"qi"'):
            assert member not in body.replace("&quot;", '"')
    detail = pages[0].content.decode()
    assert "http://testserver/sso/jwks/acme/" in detail
    kid = pkjwt_connection.signing_keys.get().kid
    assert kid in detail
    as_json = pages[1].json()
    assert as_json["token_auth_method"] == "private_key_jwt"
    assert as_json["jwks_uri"] == "http://testserver/sso/jwks/acme/"


def test_the_admin_shows_a_key_without_its_private_part(admin_client, pkjwt_connection):
    key = pkjwt_connection.signing_keys.get()
    secrets = private_key_values(pkjwt_connection)
    for url in (
        "/django-admin/connections/signingkey/",
        f"/django-admin/connections/signingkey/{key.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        assert key.kid in body
        assert "private_key" not in body
        for value in secrets:
            assert value not in body


def test_the_form_creates_a_private_key_jwt_connection_without_a_secret(
    owner_membership, client
):
    client.force_login(owner_membership.user)
    response = client.post(
        "/orgs/acme/connections/new/",
        {
            "name": "Okta keys",
            "issuer_url": "https://acme.okta.com",
            "client_id": "abc",
            "token_auth_method": "private_key_jwt",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = Connection.objects.get(name="Okta keys")
    assert connection.draft.client_secret_encrypted == ""
    page = client.get(response["Location"]).content.decode()
    assert "http://testserver/sso/jwks/acme/" in page
    assert connection.signing_keys.get().kid in page


def test_the_form_without_a_secret_or_private_key_jwt_says_what_is_missing(
    owner_membership, client
):
    client.force_login(owner_membership.user)
    response = client.post(
        "/orgs/acme/connections/new/",
        {"name": "Okta", "issuer_url": "https://acme.okta.com", "client_id": "abc"},
    )
    assert response.status_code == 400
    assert "or choose private_key_jwt" in response.content.decode()
    assert not Connection.objects.exists()


def test_a_script_that_leaves_the_method_out_gets_discoverys_choice(
    owner_membership, client
):
    client.force_login(owner_membership.user)
    response = client.post(
        "/orgs/acme/connections/new/",
        {
            "name": "Script",
            "issuer_url": "https://acme.okta.com",
            "client_id": "abc",
            "client_secret": "s3cret",
        },
    )
    assert response.status_code == 302
    connection = Connection.objects.get(name="Script")
    assert connection.draft.token_auth_method == ""
    # Editing without the field keeps the stored method.
    connection_update(
        actor_membership=owner_membership,
        connection=connection,
        name="Script",
        issuer_url="https://acme.okta.com",
        client_id="abc",
        token_auth_method="client_secret_post",
    )
    response = client.post(
        f"/orgs/acme/connections/{connection.pk}/edit/",
        {"name": "Script", "issuer_url": "https://acme.okta.com", "client_id": "abd"},
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.draft.token_auth_method == "client_secret_post"
    assert connection.draft.client_id == "abd"
