"""The session-bound login state, without Django: a dict session, a dict cache."""

from __future__ import annotations

from typing import Any

import pytest

from connections.oidc.flow import (
    MAX_PARALLEL_FLOWS,
    SESSION_KEY,
    FlowError,
    FlowTarget,
    flow_begin,
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
    return flow_begin(session, cache, **values)


def test_a_flow_is_bound_to_its_org_connection_config_and_issuer():
    session, cache = {}, DictCache()
    started = begin(session, cache, next_url="/orgs/acme/")

    flow = flow_consume(session, cache, started.state, ttl=TTL, now=1010.0)

    assert flow == started
    assert (flow.organization_id, flow.connection_id, flow.config_id) == (7, 3, 11)
    assert flow.issuer == "https://idp.example"
    assert flow.code_challenge == code_challenge_s256(flow.code_verifier)
    assert session[SESSION_KEY] == {}


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


def test_parallel_flows_are_kept_up_to_a_cap_oldest_dropped_first():
    session, cache = {}, DictCache()
    flows = [
        begin(session, cache, now=1000.0 + i) for i in range(MAX_PARALLEL_FLOWS + 2)
    ]

    assert len(session[SESSION_KEY]) == MAX_PARALLEL_FLOWS
    assert flows[0].state not in session[SESSION_KEY]
    assert flows[-1].state in session[SESSION_KEY]
    second_newest = flow_consume(session, cache, flows[-2].state, ttl=TTL, now=1020.0)
    assert second_newest.state == flows[-2].state


def test_every_flow_has_its_own_secrets():
    session, cache = {}, DictCache()
    a, b = begin(session, cache), begin(session, cache)
    assert (
        len({a.state, a.nonce, a.code_verifier, b.state, b.nonce, b.code_verifier}) == 6
    )
