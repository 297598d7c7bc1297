"""The per-IdP concurrency limit and circuit breaker (issue 16, item 4), against
real servers on 127.0.0.1: one that hangs, one that answers, one that refuses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connections import outbound_guard
from connections.outbound import OutboundError, fetch
from connections.outbound_guard import as_probe, state
from tests.connections.test_outbound import Handler, Server, _serve
from tests.settings_setter import settings_setter

# Short timeouts so a hung call ends quickly; the hang lasts longer than them.
TIMEOUT = (0.5, 0.2)
LOCAL: dict[str, Any] = {
    "allow_private": True,
    "allow_insecure": True,
    "timeout": TIMEOUT,
}
FAST_S = 0.05


class Switch:
    """Whether the test server hangs or answers; flipped by a test."""

    def __init__(self) -> None:
        self.hang = True
        self.hang_s = 2.0


def _token_or_hang(switch: Switch) -> Callable[[Handler], None]:
    def route(handler: Handler) -> None:
        if switch.hang:
            time.sleep(switch.hang_s)
            handler.close_connection = True
            return
        handler.reply_json(200, {"ok": True})

    return route


def _slow(handler: Handler) -> None:
    time.sleep(0.2)
    handler.reply_json(200, {"ok": True})


@pytest.fixture
def switch() -> Switch:
    return Switch()


@pytest.fixture
def idp(switch: Switch) -> Iterator[Server]:
    """An IdP whose /token hangs until ``switch.hang`` is False."""
    routes = {
        "/token": _token_or_hang(switch),
        "/slow": _slow,
        "/denied": lambda h: h.reply_json(401, {"error": "invalid_client"}),
        "/broken": lambda h: h.reply(500, b"oops", "text/plain"),
        "/ok": lambda h: h.reply_json(200, {"ok": True}),
    }
    yield from _serve(Server(routes))


@pytest.fixture
def other_idp() -> Iterator[Server]:
    yield from _serve(Server({"/ok": lambda h: h.reply_json(200, {"ok": True})}))


@pytest.fixture
def closed_port() -> Iterator[int]:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def guard_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The defaults, spelled out; a test changes what it is about."""
    setter = settings_setter(monkeypatch, outbound_guard)
    apply = next(setter)
    apply(
        OUTBOUND_MAX_CONCURRENT_PER_HOST=4,
        OUTBOUND_CONCURRENCY_WAIT=0.5,
        OUTBOUND_CIRCUIT_FAILURES=3,
        OUTBOUND_CIRCUIT_WINDOW=60,
        OUTBOUND_CIRCUIT_COOLDOWN=30,
    )
    yield apply
    next(setter, None)


def _fails(url: str, **kwargs: Any) -> tuple[OutboundError, float]:
    started = time.monotonic()
    with pytest.raises(OutboundError) as error:
        fetch(url, **(LOCAL | kwargs))
    return error.value, time.monotonic() - started


def _open_circuit(url: str) -> None:
    for _ in range(3):
        error, _elapsed = _fails(url)
        assert error.kind == "timeout"
    assert state(url) == "open"


# ---------------------------------------------------------------------------
# The breaker


def test_three_timeouts_open_the_circuit_and_calls_then_fail_fast(idp, guard_settings):
    url = idp.url("/token")
    _open_circuit(url)
    connections_before = idp.connections

    error, elapsed = _fails(url, method="POST", data={"code": "c"})

    assert error.kind == "circuit_open"
    assert elapsed < FAST_S
    assert idp.connections == connections_before  # nothing was sent
    assert str(error) == (
        f"The identity provider at 127.0.0.1:{idp.port} did not answer the last 3 "
        "requests; sign-in through it is paused for 30 more seconds. Try again "
        "shortly; if it persists, check the IdP's status."
    )
    # Another path of the same host and port is the same IdP.
    assert _fails(idp.url("/ok"))[0].kind == "circuit_open"


def test_refused_connections_open_the_circuit_too(closed_port, guard_settings):
    url = f"http://127.0.0.1:{closed_port}/token"
    for _ in range(3):
        assert _fails(url)[0].kind == "connection"

    error, elapsed = _fails(url)

    assert error.kind == "circuit_open"
    assert elapsed < FAST_S


def test_after_the_cooldown_one_probe_goes_through_and_an_answer_closes_it(
    idp, switch, guard_settings
):
    guard_settings(OUTBOUND_CIRCUIT_COOLDOWN=0.3)
    url = idp.url("/token")
    _open_circuit(url)
    switch.hang = False
    assert _fails(url)[0].kind == "circuit_open"  # still cooling down

    time.sleep(0.35)
    assert state(url) == "half-open"
    assert fetch(url, **LOCAL).json() == {"ok": True}

    assert state(url) == "closed"
    assert fetch(url, **LOCAL).status == 200


def test_a_failed_probe_opens_the_circuit_for_another_cooldown(idp, guard_settings):
    guard_settings(OUTBOUND_CIRCUIT_COOLDOWN=0.3)
    url = idp.url("/token")
    _open_circuit(url)
    time.sleep(0.35)

    assert _fails(url)[0].kind == "timeout"  # the probe, which hung

    assert state(url) == "open"
    error, elapsed = _fails(url)
    assert error.kind == "circuit_open"
    assert "did not answer the last 4 requests" in str(error)
    assert elapsed < FAST_S


def test_while_the_probe_is_out_other_calls_fail_fast(idp, guard_settings):
    guard_settings(OUTBOUND_CIRCUIT_COOLDOWN=0.2)
    url = idp.url("/token")
    _open_circuit(url)
    time.sleep(0.25)
    probe = threading.Thread(target=_fails, args=(url,), daemon=True)
    probe.start()
    time.sleep(0.1)  # the probe is waiting for its answer

    error, elapsed = _fails(url)
    probe.join()

    assert error.kind == "circuit_open"
    assert elapsed < FAST_S
    assert "paused while one request checks whether it is back" in str(error)


@pytest.mark.parametrize("path", ["/denied", "/broken"])
def test_http_errors_never_open_the_circuit(idp, guard_settings, path):
    for _ in range(6):
        assert _fails(idp.url(path))[0].kind == "http"

    assert state(idp.url(path)) == "closed"


def test_an_answer_between_timeouts_resets_the_count(idp, switch, guard_settings):
    url = idp.url("/token")
    for _ in range(2):
        _fails(url)
    assert _fails(idp.url("/denied"))[0].kind == "http"  # an answer
    for _ in range(2):
        _fails(url)

    assert state(url) == "closed"


def test_failures_further_apart_than_the_window_do_not_add_up(idp, guard_settings):
    guard_settings(OUTBOUND_CIRCUIT_WINDOW=0.5)
    url = idp.url("/token")
    for _ in range(2):
        _fails(url)
    time.sleep(0.6)
    _fails(url)

    assert state(url) == "closed"


def test_refusals_by_the_address_policy_do_not_count(idp, guard_settings):
    for _ in range(4):
        error, _ = _fails(idp.url("/ok"), allow_private=False)
        assert error.kind == "policy"

    assert state(idp.url("/ok")) == "closed"
    assert idp.connections == 0


def test_a_check_is_an_explicit_probe_through_an_open_circuit(
    idp, switch, guard_settings
):
    url = idp.url("/token")
    _open_circuit(url)
    switch.hang = False

    assert as_probe(fetch)(url, **LOCAL).json() == {"ok": True}

    assert state(url) == "closed"


def test_a_failed_explicit_probe_keeps_the_circuit_open(idp, guard_settings):
    url = idp.url("/token")
    _open_circuit(url)

    with pytest.raises(OutboundError) as error:
        as_probe(fetch)(url, **LOCAL)

    assert error.value.kind == "timeout"  # it was sent, and hung
    assert state(url) == "open"


def test_a_failure_count_of_zero_turns_the_breaker_off(idp, guard_settings):
    guard_settings(OUTBOUND_CIRCUIT_FAILURES=0)
    url = idp.url("/token")
    for _ in range(4):
        assert _fails(url)[0].kind == "timeout"
    assert state(url) == "closed"


# ---------------------------------------------------------------------------
# The concurrency limit


def _hang_in_background(url: str, count: int) -> list[threading.Thread]:
    threads = [
        threading.Thread(
            target=_fails, args=(url,), kwargs={"timeout": (0.5, 1.0)}, daemon=True
        )
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def _wait_for_requests(server: Server, count: int) -> None:
    deadline = time.monotonic() + 2
    while len(server.requests) < count:
        assert time.monotonic() < deadline, "the calls did not reach the server"
        time.sleep(0.01)


def test_one_call_over_the_limit_is_refused_quickly_another_idp_unaffected(
    idp, other_idp, guard_settings
):
    guard_settings(OUTBOUND_MAX_CONCURRENT_PER_HOST=2, OUTBOUND_CONCURRENCY_WAIT=0.1)
    hung = _hang_in_background(idp.url("/token"), 2)
    _wait_for_requests(idp, 2)

    error, elapsed = _fails(idp.url("/ok"))
    started = time.monotonic()
    other = fetch(other_idp.url("/ok"), **LOCAL)
    other_elapsed = time.monotonic() - started
    for thread in hung:
        thread.join()

    assert error.kind == "busy"
    assert 0.09 <= elapsed < 0.3
    assert str(error) == (
        f"The identity provider at 127.0.0.1:{idp.port} is slow: 2 requests to it "
        "from this server are still waiting for an answer, so this one was not "
        "sent. Try again shortly; if it persists, check the IdP's status (if many "
        "organizations share this IdP, raise OUTBOUND_MAX_CONCURRENT_PER_HOST)."
    )
    assert len(idp.requests) == 2  # the refused call was never sent
    assert other.status == 200 and other_elapsed < 0.2
    # The slots are back once the hung calls ended.
    assert fetch(idp.url("/ok"), **LOCAL).status == 200


def test_a_call_waits_briefly_for_a_slot_to_free_up(idp, guard_settings):
    guard_settings(OUTBOUND_MAX_CONCURRENT_PER_HOST=1, OUTBOUND_CONCURRENCY_WAIT=1.0)
    patient = LOCAL | {"timeout": (1.0, 2.0)}
    answers: list[int] = []
    first = threading.Thread(
        target=lambda: answers.append(fetch(idp.url("/slow"), **patient).status)
    )
    first.start()
    _wait_for_requests(idp, 1)

    started = time.monotonic()
    response = fetch(idp.url("/ok"), **patient)
    first.join()

    assert answers == [200] and response.status == 200
    assert 0.05 < time.monotonic() - started < 1.0


def test_a_limit_of_zero_turns_the_limit_off(idp, guard_settings):
    guard_settings(OUTBOUND_MAX_CONCURRENT_PER_HOST=0, OUTBOUND_CIRCUIT_FAILURES=0)
    with ThreadPoolExecutor(max_workers=6) as pool:
        kinds = list(pool.map(lambda _: _fails(idp.url("/token"))[0].kind, range(6)))

    assert kinds == ["timeout"] * 6
