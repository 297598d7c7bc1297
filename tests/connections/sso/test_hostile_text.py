"""Signed tokens whose text cannot be stored: NUL characters, lone surrogates.

A valid signature from a misbehaving (or hostile) IdP does not make its claims
storable; each case must end in a refusal with an event, never a server error.
"""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts.models import User
from connections.models import SignInEvent
from connections.oidc.errors import OIDCError
from connections.oidc.tokens import validate_id_token

from .helpers import assert_refused, callback, start_login

LONE_SURROGATE = "\ud800"


def sign_in_with_claims(client, fake, **changes):
    request = start_login(client)
    claims = {**fake.claims(request["nonce"]), **changes}
    fake.next_id_token = fake.sign(claims)
    return callback(client, fake.issuer, request["state"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "step"),
    [
        ({"nonce": LONE_SURROGATE}, "malformed"),
        ({"sub": "00u\x00ada"}, "malformed"),
        ({"email": f"ada{LONE_SURROGATE}@acme.test"}, "malformed"),
        ({"groups": ["Eng\x00"]}, "malformed"),
        ({"name": LONE_SURROGATE}, "malformed"),
        ({"iss": f"http://evil{LONE_SURROGATE}\x00.example"}, "malformed"),
    ],
    ids=["nonce", "sub", "email", "groups", "name", "iss"],
)
def test_unstorable_text_in_a_signed_token_is_refused(
    changes, step, client, acme, acme_connection, fake_idp
):
    response = sign_in_with_claims(client, fake_idp, **changes)

    event = assert_refused(client, response, step)
    assert "\x00" not in event.detail
    event.detail.encode("utf-8")  # storable as text everywhere
    assert not User.objects.filter(email__startswith="ada").exists()
    assert SignInEvent.objects.count() == 1


@pytest.mark.parametrize("claim", ["nonce", "sub", "email"])
@pytest.mark.parametrize("text", [LONE_SURROGATE, "00u\x001"])
def test_protocol_refuses_claims_that_are_not_storable_text(claim, text):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": "https://idp.example",
        "aud": "client",
        "sub": "00u1",
        "iat": now,
        "exp": now + 60,
        "nonce": "expected-nonce",
    }
    claims[claim] = text
    token = jwt.encode(claims, key, algorithm="RS256")

    with pytest.raises(OIDCError) as raised:
        validate_id_token(
            token,
            issuer="https://idp.example",
            client_id="client",
            key_resolver=lambda kid, alg: key.public_key(),
            allowed_algs=["RS256"],
            nonce="expected-nonce",
        )
    assert raised.value.step == "malformed"
