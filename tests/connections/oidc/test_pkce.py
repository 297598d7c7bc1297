import re

import pytest

from connections.oidc.pkce import (
    code_challenge_s256,
    code_verifier,
    new_nonce,
    new_state,
    secrets_match,
)

UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+")


@pytest.mark.parametrize("make", [new_state, new_nonce])
def test_state_and_nonce_are_url_safe_and_carry_at_least_128_bits(make):
    values = {make() for _ in range(50)}
    assert len(values) == 50
    for value in values:
        assert UNRESERVED.fullmatch(value)
        # token_urlsafe: 6 bits per character.
        assert len(value) * 6 >= 128


def test_code_verifier_is_43_to_128_unreserved_characters_and_unique():
    verifiers = {code_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128
        assert UNRESERVED.fullmatch(verifier)


def test_code_challenge_matches_the_rfc_7636_example():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert (
        code_challenge_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_code_challenge_of_a_generated_verifier_is_unpadded_base64url():
    challenge = code_challenge_s256(code_verifier())
    assert len(challenge) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge)


@pytest.mark.parametrize(
    "verifier",
    ["too-short", "a" * 129, "a" * 42 + " ", "a" * 42 + "+", "a" * 43 + "\n"],
)
def test_code_challenge_refuses_verifiers_outside_rfc_7636(verifier):
    with pytest.raises(ValueError):
        code_challenge_s256(verifier)


def test_secrets_match_only_for_equal_non_empty_values():
    state = new_state()
    assert secrets_match(state, state)
    assert not secrets_match(state, state[:-1])
    assert not secrets_match(state, None)
    assert not secrets_match("", "")
