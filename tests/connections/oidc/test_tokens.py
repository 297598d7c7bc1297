"""ID token validation against hand-made hostile tokens."""

import base64
import hashlib
import hmac
import json
import time
from functools import cache
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from jwt import PyJWK
from jwt.algorithms import RSAAlgorithm

from connections.oidc.errors import OIDCError
from connections.oidc.jwks import JWKSCache
from connections.oidc.tokens import (
    accepted_algs,
    check_userinfo_sub,
    validate_authorization_response_iss,
    validate_id_token,
)

ISSUER = "https://acme.okta.com/oauth2/default"
ORG_ISSUER = "https://acme.okta.com"
CLIENT_ID = "0oa1client"
NONCE = "nonce-4f1c2a9e7b"
LEEWAY = 60
# Tokens are checked against the real clock, so a token meant to be just
# inside (or outside) the leeway keeps this margin for a slow test run.
SLACK = 10
REMOVE = object()


def now() -> int:
    return int(time.time())


@cache
def rsa_private(name: str = "main") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_private(curve_name: str = "P-256") -> ec.EllipticCurvePrivateKey:
    curve = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1}[curve_name]
    return ec.generate_private_key(curve())


@cache
def ed_private() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_keys() -> dict[str, Any]:
    return {
        "rsa": rsa_private().public_key(),
        "ec": ec_private().public_key(),
        "ec384": ec_private("P-384").public_key(),
        "ed": ed_private().public_key(),
    }


def resolve(kid: str | None, alg: str) -> Any:
    try:
        return public_keys()[kid or "rsa"]
    except KeyError:
        raise OIDCError("kid", "Unknown key.") from None


def claims(**changes: Any) -> dict[str, Any]:
    payload = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "00u1abcd",
        "iat": now() - 10,
        "exp": now() + 300,
        "nonce": NONCE,
        "email": "ada@example.com",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not REMOVE}


def sign(
    payload: dict[str, Any],
    *,
    key: Any = None,
    alg: str = "RS256",
    kid: str | None = "rsa",
    headers: dict[str, Any] | None = None,
) -> str:
    all_headers = {} if kid is None else {"kid": kid}
    all_headers.update(headers or {})
    return jwt.encode(payload, key or rsa_private(), algorithm=alg, headers=all_headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes) -> str:
    """An RS256 token over exactly these bytes, valid or not as JSON."""
    encoded = [
        b64(part if isinstance(part, bytes) else json.dumps(part).encode())
        for part in (header, payload)
    ]
    signing_input = ".".join(encoded).encode()
    signature = rsa_private().sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{encoded[0]}.{encoded[1]}.{b64(signature)}"


def validate(token: str, **options: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "key_resolver": resolve,
        "allowed_algs": ["RS256", "ES256", "EdDSA"],
        "nonce": NONCE,
        "leeway": LEEWAY,
    }
    arguments.update(options)
    return validate_id_token(token, **arguments)


def rejected(token: str, **options: Any) -> OIDCError:
    with pytest.raises(OIDCError) as caught:
        validate(token, **options)
    message = str(caught.value)
    # Nothing from the token, nor the expected nonce, ever reaches a message.
    for segment in token.split("."):
        assert len(segment) < 8 or segment not in message
    assert NONCE not in message
    return caught.value


def test_a_valid_rs256_token_returns_its_claims():
    result = validate(sign(claims()))
    assert result["sub"] == "00u1abcd"
    assert result["email"] == "ada@example.com"


def test_valid_es256_and_eddsa_tokens_pass():
    assert validate(sign(claims(), key=ec_private(), alg="ES256", kid="ec"))
    assert validate(sign(claims(), key=ed_private(), alg="EdDSA", kid="ed"))


def test_a_valid_token_passes_with_a_real_key_set_and_survives_rotation() -> None:
    old_key = rsa_private("old")
    keys = {"keys": [RSAAlgorithm.to_jwk(old_key.public_key(), as_dict=True)]}
    keys["keys"][0]["kid"] = "old"
    fetched: list[str] = []
    clock_now = [1_700_000_000.0]

    class Response:
        status = 200
        headers: dict[str, str] = {}
        url = "https://acme.okta.com/oauth2/default/v1/keys"

        @property
        def content(self) -> bytes:
            return json.dumps(keys).encode()

        def json(self) -> Any:
            return json.loads(self.content)

    def fetch(url, *, method="GET", data=None, headers=None, auth=None):
        fetched.append(url)
        return Response()

    class DictCache(dict):
        def set(self, key, value, timeout=None):
            self[key] = value

        def add(self, key, value, timeout=None):
            return self.setdefault(key, value) is value

    jwks_cache = JWKSCache(DictCache(), clock=lambda: clock_now[0])
    resolver = jwks_cache.resolver(fetch, Response.url)
    validate(sign(claims(), key=old_key, kid="old"), key_resolver=resolver)
    # The provider rotates to a new key a while later.
    new_key = rsa_private("new")
    keys["keys"] = [RSAAlgorithm.to_jwk(new_key.public_key(), as_dict=True)]
    keys["keys"][0]["kid"] = "new"
    clock_now[0] += 600
    result = validate(sign(claims(), key=new_key, kid="new"), key_resolver=resolver)
    assert result["sub"] == "00u1abcd"
    assert len(fetched) == 2


def test_wrong_issuer_is_rejected_naming_both_issuers():
    error = rejected(sign(claims(iss=ORG_ISSUER)))
    assert error.step == "iss"
    assert f"'{ORG_ISSUER}'" in str(error) and f"'{ISSUER}'" in str(error)
    assert "/oauth2/default" in str(error)


@pytest.mark.parametrize("iss", [REMOVE, 42, ISSUER + "/", ISSUER.upper()])
def test_issuer_must_be_present_and_exactly_equal(iss):
    token = sign_raw({"alg": "RS256", "kid": "rsa"}, claims(iss=iss))
    assert rejected(token).step == "iss"


@pytest.mark.parametrize("aud", ["someone-else", ["someone-else"], REMOVE, [], 7, [7]])
def test_audience_must_contain_the_client_id(aud):
    assert rejected(sign(claims(aud=aud))).step == "aud"


def test_audience_list_containing_the_client_passes():
    assert validate(sign(claims(aud=[CLIENT_ID])))


def test_several_audiences_without_azp_are_rejected():
    token = sign(claims(aud=[CLIENT_ID, "api://trusted"]))
    error = rejected(token, trusted_audiences=["api://trusted"])
    assert error.step == "azp"


def test_several_audiences_with_azp_equal_to_the_client_pass():
    token = sign(claims(aud=[CLIENT_ID, "api://trusted"], azp=CLIENT_ID))
    assert validate(token, trusted_audiences=["api://trusted"])


def test_an_untrusted_extra_audience_is_rejected():
    token = sign(claims(aud=[CLIENT_ID, "api://unknown"], azp=CLIENT_ID))
    assert rejected(token).step == "aud"


def test_azp_naming_another_client_is_rejected():
    assert rejected(sign(claims(azp="another-client"))).step == "azp"


def test_an_expired_token_is_rejected():
    error = rejected(sign(claims(exp=now() - LEEWAY - 1)))
    assert error.step == "exp"
    assert "clock" in str(error)


def test_a_token_expired_within_the_leeway_passes():
    assert validate(sign(claims(exp=now() - LEEWAY + SLACK)))


@pytest.mark.parametrize("claim", ["exp", "iat"])
@pytest.mark.parametrize("value", [REMOVE, "1700000000", True, None, [1]])
def test_exp_and_iat_are_required_numbers(claim, value):
    token = sign_raw({"alg": "RS256", "kid": "rsa"}, claims(**{claim: value}))
    assert rejected(token).step == claim


def test_a_time_claim_that_overflows_to_infinity_is_rejected():
    body = json.dumps(claims(exp=0)).replace('"exp": 0', '"exp": 1e400')
    token = sign_raw({"alg": "RS256", "kid": "rsa"}, body.encode())
    assert rejected(token).step == "exp"


def test_iat_in_the_future_is_rejected():
    assert rejected(sign(claims(iat=now() + LEEWAY + SLACK))).step == "iat"


def test_iat_in_the_future_within_the_leeway_passes():
    assert validate(sign(claims(iat=now() + LEEWAY - SLACK)))


def test_nbf_in_the_future_is_rejected():
    assert rejected(sign(claims(nbf=now() + LEEWAY + SLACK))).step == "nbf"


def test_nbf_within_the_leeway_passes():
    assert validate(sign(claims(nbf=now() + LEEWAY - SLACK)))


def test_nbf_that_is_not_a_number_is_rejected():
    assert rejected(sign(claims(nbf="soon"))).step == "nbf"


@pytest.mark.parametrize("sub", [REMOVE, "", "   ", 12345, "x" * 256, None])
def test_sub_must_be_a_non_empty_string_of_at_most_255_characters(sub):
    assert rejected(sign(claims(sub=sub))).step == "sub"


def test_sub_of_255_characters_passes():
    assert validate(sign(claims(sub="x" * 255)))


@pytest.mark.parametrize("nonce", [REMOVE, "another-nonce", NONCE + "x", 1, ""])
def test_nonce_must_be_present_and_equal(nonce):
    assert rejected(sign(claims(nonce=nonce))).step == "nonce"


def test_max_age_requires_a_recent_auth_time():
    recent = sign(claims(auth_time=now() - 100))
    assert validate(recent, max_age_seconds=300)
    old = sign(claims(auth_time=now() - 1000))
    assert rejected(old, max_age_seconds=300).step == "auth_time"
    missing = sign(claims())
    assert rejected(missing, max_age_seconds=300).step == "auth_time"


def test_alg_none_is_rejected():
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    assert rejected(f"{header}.{payload}.").step == "alg"
    allowed = ["RS256", "none"]
    assert rejected(f"{header}.{payload}.", allowed_algs=allowed).step == "alg"


def test_hs256_signed_with_the_rsa_public_key_is_rejected():
    # The classic key-confusion attack: the public key is public, so an
    # attacker can HMAC with it and hope the verifier does the same.
    pem = (
        rsa_private()
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa"}).encode())
    payload = b64(json.dumps(claims()).encode())
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{b64(mac)}"
    assert rejected(token, allowed_algs=["RS256", "HS256"]).step == "alg"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_shared_secret_algorithms_are_refused_even_when_listed(alg):
    # Whoever holds the client secret could mint tokens with it.
    secret = "a-long-client-secret-from-the-provider-" + "0123456789" * 4
    token = sign(claims(), key=secret, alg=alg, kid=None)
    error = rejected(token, allowed_algs=["RS256", alg])
    assert error.step == "alg"
    assert "shared-secret" in str(error)


def test_an_alg_outside_the_allowed_list_is_rejected():
    token = sign(claims(), alg="RS512")
    error = rejected(token, allowed_algs=["RS256"])
    assert error.step == "alg"
    assert "RS512" in str(error)


def test_an_unknown_alg_is_rejected_without_echoing_it():
    header = b64(json.dumps({"alg": "<b>XYZ</b>", "kid": "rsa"}).encode())
    payload = b64(json.dumps(claims()).encode())
    error = rejected(f"{header}.{payload}.c2ln", allowed_algs=["<b>XYZ</b>"])
    assert error.step == "alg"
    assert "XYZ" not in str(error)


def test_a_header_alg_that_does_not_match_the_key_type_is_rejected():
    # Signed with the EC key but the resolver hands back the RSA key.
    token = sign(claims(), key=ec_private(), alg="ES256", kid="rsa")
    assert rejected(token).step == "key"


def test_an_ec_key_on_the_wrong_curve_is_rejected():
    token = sign(claims(), key=ec_private(), alg="ES256", kid="ec384")
    assert rejected(token).step == "key"


def test_a_token_signed_by_another_key_is_rejected():
    token = sign(claims(), key=rsa_private("attacker"), kid="rsa")
    assert rejected(token).step == "signature"


def test_a_tampered_payload_is_rejected():
    header, _, signature = sign(claims()).split(".")
    forged = b64(json.dumps(claims(sub="00uADMIN")).encode())
    assert rejected(f"{header}.{forged}.{signature}").step == "signature"


@pytest.mark.parametrize("cut", [1, 10, 200])
def test_a_truncated_signature_is_rejected(cut):
    token = sign(claims())
    assert rejected(token[:-cut]).step in {"signature", "malformed"}


def test_an_empty_es256_signature_is_rejected():
    token = sign(claims(), key=ec_private(), alg="ES256", kid="ec")
    header, payload, _ = token.split(".")
    assert rejected(f"{header}.{payload}.").step == "signature"


def test_a_non_canonical_signature_encoding_is_rejected():
    # A 256-byte RS256 signature ends in a character with four unused bits:
    # flipping one keeps the signature bytes but changes the token's spelling.
    token = sign(claims())
    last = token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(last)
    sibling = alphabet[index ^ 1]
    assert rejected(token[:-1] + sibling).step == "malformed"


def test_padded_base64url_is_rejected():
    # PyJWT would take "=" padding; RFC 7515 compact tokens have none.
    token = sign(claims())
    assert len(token.split(".")[2]) % 4 == 2
    assert rejected(token + "==").step == "malformed"


def test_a_b64_header_is_rejected():
    # RFC 7797 unencoded payloads, which PyJWT understands and ID tokens never use.
    token = sign_raw({"alg": "RS256", "kid": "rsa", "b64": False}, claims())
    assert rejected(token).step == "malformed"


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_a_time_claim_written_as_a_string_is_rejected(claim):
    # PyJWT reads time claims with int(), so it would take these.
    value = str(now() + 300 if claim == "exp" else now() - 10)
    assert rejected(sign(claims(**{claim: value}))).step == claim


def test_a_null_nbf_is_rejected():
    assert rejected(sign(claims(nbf=None))).step == "nbf"


def test_a_resolved_key_bound_to_another_algorithm_is_rejected():
    jwk = RSAAlgorithm.to_jwk(rsa_private().public_key(), as_dict=True)
    token = sign(claims())
    assert validate(token, key_resolver=lambda kid, alg: PyJWK(jwk, "RS256"))
    error = rejected(token, key_resolver=lambda kid, alg: PyJWK(jwk, "RS384"))
    assert error.step == "key"


def test_an_unknown_kid_from_the_resolver_is_reported_as_is():
    assert rejected(sign(claims(), kid="nope")).step == "kid"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "!!!.e30.c2ln",
        "e30.e30.c2ln=",
        "e30.e30.c2ln c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30.a",  # impossible base64 length
        b64(b"not json") + ".e30.c2ln",
        b64(b"[1, 2]") + ".e30.c2ln",
        b64(b"\xff\xfe") + ".e30.c2ln",
        b64(b"{}") + ".e30.c2ln",
        b64(b'{"alg": 256}') + ".e30.c2ln",
        b64(b'{"alg": "RS256", "kid": 5}') + ".e30.c2ln",
        b64(b'{"alg": "RS256", "alg": "none"}') + ".e30.c2ln",
        "x" * 200_000,
    ],
)
def test_malformed_tokens_raise_oidc_error(token):
    assert rejected(token).step == "malformed"


@pytest.mark.parametrize("value", [None, b"a.b.c", 42])
def test_non_text_tokens_raise_oidc_error(value):
    with pytest.raises(OIDCError) as caught:
        validate(value)
    assert caught.value.step == "malformed"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'["a", "list"]',
        b'{"sub": "a", "sub": "b"}',
        b'{"exp": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_a_correctly_signed_but_malformed_payload_is_rejected(payload):
    token = sign_raw({"alg": "RS256", "kid": "rsa"}, payload)
    assert rejected(token).step == "malformed"


def test_duplicate_claims_cannot_hide_a_value_from_the_checks():
    body = json.dumps(claims())[:-1] + ', "iss": "https://evil.example"}'
    token = sign_raw({"alg": "RS256", "kid": "rsa"}, body.encode())
    assert rejected(token).step == "malformed"


def test_a_crit_header_is_rejected():
    token = sign(claims(), headers={"crit": ["exp"], "exp": 1})
    assert rejected(token).step == "crit"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "logout+jwt", 1])
def test_tokens_of_another_type_are_rejected(typ):
    assert rejected(sign(claims(), headers={"typ": typ})).step == "typ"


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt"])
def test_plain_jwt_types_pass(typ):
    assert validate(sign(claims(), headers={"typ": typ}))


def test_a_token_without_typ_passes():
    assert validate(sign_raw({"alg": "RS256", "kid": "rsa"}, claims()))


def test_programming_errors_are_not_reported_as_token_problems():
    token = sign(claims())
    with pytest.raises(ValueError):
        validate(token, allowed_algs="RS256")
    with pytest.raises(ValueError):
        validate(token, nonce="")
    with pytest.raises(ValueError):
        validate(token, leeway=-1)


def test_accepted_algs_keeps_only_public_key_algorithms():
    advertised = ["RS256", "HS256", "none", "ES256", "ES256K", "PS512"]
    assert accepted_algs(advertised) == ("RS256", "ES256", "PS512")


def test_userinfo_with_the_same_sub_passes():
    check_userinfo_sub({"sub": "00u1"}, {"sub": "00u1", "email": "a@example.com"})


@pytest.mark.parametrize("userinfo", [{"sub": "00u2"}, {}, {"sub": 1}, ["00u1"]])
def test_userinfo_about_someone_else_is_rejected(userinfo):
    with pytest.raises(OIDCError) as caught:
        check_userinfo_sub({"sub": "00u1"}, userinfo)
    assert caught.value.step == "userinfo_sub"
    assert "00u" not in str(caught.value)


def test_authorization_response_iss_equal_to_the_issuer_passes():
    validate_authorization_response_iss(ISSUER, ISSUER, True)
    validate_authorization_response_iss(ISSUER, ISSUER, False)
    validate_authorization_response_iss(None, ISSUER, False)


def test_authorization_response_iss_missing_when_required_is_rejected():
    with pytest.raises(OIDCError) as caught:
        validate_authorization_response_iss(None, ISSUER, True)
    assert caught.value.step == "iss_param"


@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize("param", [ORG_ISSUER, "", ISSUER + "/"])
def test_authorization_response_iss_that_differs_is_rejected(param, required):
    with pytest.raises(OIDCError) as caught:
        validate_authorization_response_iss(param, ISSUER, required)
    assert caught.value.step == "iss_param"
