"""The session-bound login state, without requests: a dict session, a dict cache.

The entries are written by mozilla-django-oidc's own
``add_state_and_verifier_and_nonce_to_session``, as its request view does.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.utils.crypto import get_random_string
from mozilla_django_oidc.utils import (
    add_state_and_verifier_and_nonce_to_session,
    generate_code_challenge,
)

from connections.oidc.flow import (
    BINDING_KEY,
    SESSION_KEY,
    FlowError,
    FlowTarget,
    flow_bind,
    flow_consume,
)
from connections.oidc.pkce import code_challenge_s256

TTL = 600


class DictCache:
    """The cache calls the flow makes, with Django's semantics (no expiry)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        self.data[key] = value

    def add(self, key: str, value: Any, timeout: Any = None) -> bool:
        if key in self.data:
            return False
        self.data[key] = value
        return True


def library_start(session: dict, now: float, *, pkce: bool = True) -> str:
    """What mozilla-django-oidc's request view stores; returns the state."""
    state = get_random_string(43)
    params: dict[str, str] = {"nonce": get_random_string(43)}
    verifier = get_random_string(64) if pkce else None
    if verifier is not None:
        params["code_challenge"] = generate_code_challenge(verifier, "S256")
    add_state_and_verifier_and_nonce_to_session(
        SimpleNamespace(session=session), state, params, verifier
    )
    session[SESSION_KEY][state]["added_on"] = now  # the library's clock is real
    return state


def begin(session, cache, now=1000.0, **changes):
    values = {
        "organization_id": 7,
        "connection_id": 3,
        "config_id": 11,
        "issuer": "https://idp.example",
        "redirect_uri": "https://console.example/sso/callback/",
        "ttl": TTL,
        "now": now,
    }
    values.update(changes)
    return flow_bind(session, cache, library_start(session, now), **values)


def test_a_flow_is_bound_to_its_org_connection_config_and_issuer():
    session, cache = {}, DictCache()
    started = begin(session, cache, next_url="/orgs/acme/")

    flow = flow_consume(session, cache, started.state, ttl=TTL, now=1010.0)

    assert flow == started
    assert (flow.organization_id, flow.connection_id, flow.config_id) == (7, 3, 11)
    assert flow.issuer == "https://idp.example"
    assert flow.next_url == "/orgs/acme/"
    assert flow.code_challenge == code_challenge_s256(flow.code_verifier)
    assert session[SESSION_KEY] == {}


def test_a_test_sign_in_flow_carries_the_delegate_that_started_it():
    session, cache = {}, DictCache()
    started = begin(session, cache, is_test=True, delegate="setup_link:12")

    flow = flow_consume(session, cache, started.state, ttl=TTL, now=1010.0)

    assert (flow.is_test, flow.actor_id, flow.delegate) == (True, None, "setup_link:12")


def test_a_binding_stored_before_delegates_existed_still_reads():
    session, cache = {}, DictCache()
    started = begin(session, cache, is_test=True, actor_id=5)
    del session[SESSION_KEY][started.state][BINDING_KEY]["delegate"]

    flow = flow_consume(session, cache, started.state, ttl=TTL, now=1010.0)

    assert (flow.actor_id, flow.delegate) == (5, "")


def test_the_binding_lives_in_the_librarys_entry_beside_its_secrets():
    session, cache = {}, DictCache()
    started = begin(session, cache)

    entry = session[SESSION_KEY][started.state]

    assert entry["nonce"] == started.nonce
    assert entry["code_verifier"] == started.code_verifier
    assert entry[BINDING_KEY]["organization_id"] == 7


def test_a_flow_is_consumed_once():
    session, cache = {}, DictCache()
    started = begin(session, cache)
    flow_consume(session, cache, started.state, ttl=TTL, now=1001.0)

    with pytest.raises(FlowError) as raised:
        flow_consume(session, cache, started.state, ttl=TTL, now=1002.0)

    assert raised.value.step == "state_reused"
    assert raised.value.target == FlowTarget(7, 3, False)


def test_an_expired_flow_is_refused_and_gone():
    session, cache = {}, DictCache()
    started = begin(session, cache)

    with pytest.raises(FlowError) as raised:
        flow_consume(session, cache, started.state, ttl=TTL, now=1000.0 + TTL + 1)

    assert raised.value.step == "state_expired"
    assert started.state not in session[SESSION_KEY]


def test_a_flow_from_the_future_is_refused():
    session, cache = {}, DictCache()
    started = begin(session, cache, now=5000.0)
    with pytest.raises(FlowError):
        flow_consume(session, cache, started.state, ttl=TTL, now=1000.0)


def test_unknown_states_are_attributed_only_when_this_server_issued_them():
    session, cache = {}, DictCache()
    started = begin(session, cache, is_test=True, actor_id=5)

    with pytest.raises(FlowError) as elsewhere:
        flow_consume({}, cache, started.state, ttl=TTL, now=1001.0)
    with pytest.raises(FlowError) as made_up:
        flow_consume(session, cache, "made-up", ttl=TTL, now=1001.0)
    with pytest.raises(FlowError) as missing:
        flow_consume(session, cache, "", ttl=TTL, now=1001.0)

    assert elsewhere.value.step == "state_unknown"
    assert elsewhere.value.target == FlowTarget(7, 3, True)
    assert made_up.value.target is None
    assert missing.value.step == "state_missing"


def test_parallel_flows_are_kept_up_to_a_cap_oldest_dropped_first(settings):
    session, cache = {}, DictCache()
    cap = settings.OIDC_MAX_STATES
    flows = [begin(session, cache, now=1000.0 + i) for i in range(cap + 2)]

    assert len(session[SESSION_KEY]) == cap
    assert flows[0].state not in session[SESSION_KEY]
    assert flows[1].state not in session[SESSION_KEY]
    assert flows[-1].state in session[SESSION_KEY]
    second_newest = flow_consume(session, cache, flows[-2].state, ttl=TTL, now=1020.0)
    assert second_newest.state == flows[-2].state
    with pytest.raises(FlowError) as dropped:
        flow_consume(session, cache, flows[0].state, ttl=TTL, now=1020.0)
    assert dropped.value.step == "state_unknown"
    assert dropped.value.target == FlowTarget(7, 3, False)


def test_a_state_without_a_pkce_verifier_is_never_bound():
    session, cache = {}, DictCache()
    state = library_start(session, 1000.0, pkce=False)

    with pytest.raises(ValueError):
        flow_bind(
            session,
            cache,
            state,
            organization_id=7,
            connection_id=3,
            config_id=11,
            issuer="https://idp.example",
            redirect_uri="https://console.example/sso/callback/",
            ttl=TTL,
        )
    with pytest.raises(ValueError):
        flow_bind(
            session,
            cache,
            "not-stored",
            organization_id=7,
            connection_id=3,
            config_id=11,
            issuer="https://idp.example",
            redirect_uri="https://console.example/sso/callback/",
            ttl=TTL,
        )


@pytest.mark.parametrize(
    "spoil",
    [
        lambda entry: entry.pop(BINDING_KEY),
        lambda entry: entry.update(code_verifier=None),
        lambda entry: entry.update(code_verifier="short"),
        lambda entry: entry.update(nonce=None),
        lambda entry: entry[BINDING_KEY].pop("issuer"),
    ],
    ids=["no_binding", "no_verifier", "bad_verifier", "no_nonce", "bad_binding"],
)
def test_an_incomplete_entry_is_refused_and_gone(spoil):
    session, cache = {}, DictCache()
    started = begin(session, cache)
    spoil(session[SESSION_KEY][started.state])

    with pytest.raises(FlowError) as raised:
        flow_consume(session, cache, started.state, ttl=TTL, now=1001.0)

    assert raised.value.step == "state_unknown"
    assert started.state not in session[SESSION_KEY]
