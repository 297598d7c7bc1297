"""PKCE S256 challenges. The secrets themselves are mozilla-django-oidc's:
tests/connections/sso/test_login_state.py checks those it makes."""

import re
import secrets

import pytest

from connections.oidc.pkce import code_challenge_s256, secrets_match


def test_code_challenge_matches_the_rfc_7636_example():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert (
        code_challenge_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_code_challenge_of_a_random_verifier_is_unpadded_base64url():
    challenge = code_challenge_s256(secrets.token_urlsafe(48))
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
    state = secrets.token_urlsafe(32)
    assert secrets_match(state, state)
    assert not secrets_match(state, state[:-1])
    assert not secrets_match(state, None)
    assert not secrets_match("", "")
