"""System checks: a weakened login state is refused at start-up."""

from __future__ import annotations

import pytest

from connections.checks import sso_login_state_check


def test_the_shipped_login_state_settings_pass():
    assert sso_login_state_check(None) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OIDC_STATE_SIZE", 16),
        ("OIDC_NONCE_SIZE", 32),
        ("OIDC_PKCE_CODE_VERIFIER_SIZE", 129),
        ("OIDC_PKCE_CODE_VERIFIER_SIZE", 42),
        ("OIDC_MAX_STATES", 0),
        ("OIDC_MAX_STATES", 1000),
        ("OIDC_MAX_STATES", True),
        ("OIDC_STATE_SIZE", "43"),
    ],
)
def test_a_weak_or_unbounded_login_state_setting_is_an_error(settings, name, value):
    setattr(settings, name, value)

    (problem,) = sso_login_state_check(None)

    assert problem.id == "connections.E001"
    assert name in problem.msg
