"""TXT look-ups against the real DNS server of tests/fixtures/dns.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from domains import dns as dns_module
from domains.dns import TxtLookup, parse_nameservers, txt_lookup
from tests.settings_setter import settings_setter

NAME = "_sso-console-challenge.example.com"


@pytest.fixture
def lookup(dns) -> Callable[..., TxtLookup]:
    """txt_lookup against the test server, with a short timeout."""

    def run(name: str = NAME, **kwargs: Any) -> TxtLookup:
        kwargs.setdefault("nameservers", [dns.address])
        kwargs.setdefault("timeout", 1.0)
        return txt_lookup(name, **kwargs)

    return run


@pytest.fixture
def dns_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from settings_setter(monkeypatch, dns_module)


def test_single_record_is_found(dns, lookup):
    dns.set_txt(NAME, "sso-console-verification=abc")

    assert lookup() == TxtLookup(
        outcome="found",
        values=["sso-console-verification=abc"],
        detail=f"Found 1 TXT record at {NAME}.",
    )
    assert dns.queries == [NAME.lower()]


def test_strings_of_one_record_are_joined(dns, lookup):
    dns.set_txt(NAME, ("sso-console-", "verification=", "abc"))

    assert lookup().values == ["sso-console-verification=abc"]


def test_several_records_are_returned_separately(dns, lookup):
    dns.set_txt(NAME, "v=spf1 -all", ("sso-console-verification=", "abc"), "other")

    result = lookup()

    assert result.outcome == "found"
    assert sorted(result.values) == [
        "other",
        "sso-console-verification=abc",
        "v=spf1 -all",
    ]
    assert result.detail == f"Found 3 TXT records at {NAME}."


def test_large_answers_arrive_over_tcp(dns, lookup):
    long_values = ["a" * 300, "b" * 400]
    dns.set_txt(NAME, *long_values)

    result = lookup()

    assert sorted(result.values) == long_values
    assert [q.protocol for q in dns.query_log] == ["udp", "tcp"]


def test_each_lookup_asks_the_server_again(dns, lookup):
    dns.set_txt(NAME, "first")
    assert lookup().values == ["first"]

    dns.set_txt(NAME, "second")

    assert lookup().values == ["second"]
    assert len(dns.queries) == 2


def test_unknown_name_is_nxdomain_and_names_the_name(dns, lookup):
    dns.set_txt("example.com", "unrelated")

    result = lookup("_sso-console-challenge.Example.com.")

    assert result.outcome == "nxdomain"
    assert result.values == []
    assert "_sso-console-challenge.Example.com does not exist" in result.detail


def test_removed_record_is_nxdomain(dns, lookup):
    dns.set_txt(NAME, "value")
    dns.remove(NAME)

    assert lookup().outcome == "nxdomain"


def test_name_with_only_other_records_is_no_answer(dns, lookup):
    dns.set_a(NAME, "192.0.2.1")

    result = lookup()

    assert result.outcome == "no_answer"
    assert result.values == []
    assert f"{NAME} exists but has no TXT record" in result.detail


def test_name_with_only_names_below_it_is_no_answer(dns, lookup):
    dns.set_txt(f"deeper.{NAME}", "value")

    assert lookup().outcome == "no_answer"


def test_silent_server_times_out_within_the_bound(dns, lookup):
    dns.set_txt(NAME, "value")
    dns.hang(True)
    started = time.monotonic()

    result = lookup(timeout=0.5)

    assert result.outcome == "timeout"
    assert time.monotonic() - started < 1.5
    assert NAME in result.detail
    assert NAME.lower() in dns.queries


@pytest.mark.parametrize("rcode", ["SERVFAIL", "REFUSED"])
def test_failing_server_is_an_error_naming_the_name(dns, lookup, rcode):
    dns.fail(NAME, rcode)

    result = lookup()

    assert result.outcome == "error"
    assert result.values == []
    assert f"look-up of {NAME}" in result.detail


def test_unreachable_server_is_not_found(lookup):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()

    result = lookup(nameservers=[("127.0.0.1", port)], timeout=0.5)

    assert result.outcome in ("timeout", "error")
    assert NAME in result.detail
    assert time.monotonic() - started < 1.5


def test_invalid_name_is_an_error_without_a_query(dns, lookup):
    result = lookup("bad..example.com")

    assert result.outcome == "error"
    assert "'bad..example.com' is not a valid DNS name" in result.detail
    assert dns.queries == []


def test_nameservers_default_to_the_setting_read_at_call_time(
    dns, lookup, dns_settings
):
    dns.set_txt(NAME, "value")
    dns_settings(DNS_NAMESERVERS=[dns.nameserver])

    assert txt_lookup(NAME, timeout=1.0).values == ["value"]


def test_misconfigured_nameservers_are_an_error_not_an_exception(dns_settings):
    dns_settings(DNS_NAMESERVERS=["dns.example.com:53"])

    result = txt_lookup(NAME, timeout=0.5)

    assert result.outcome == "error"
    assert "DNS_NAMESERVERS" in result.detail


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["127.0.0.1:5353"], [("127.0.0.1", 5353)]),
        (["192.0.2.1"], [("192.0.2.1", 53)]),
        (["[::1]:5353", "::1"], [("::1", 5353), ("::1", 53)]),
        ("192.0.2.1:53, 192.0.2.2", [("192.0.2.1", 53), ("192.0.2.2", 53)]),
        ([], []),
    ],
)
def test_parse_nameservers(entries, expected):
    assert parse_nameservers(entries) == expected


@pytest.mark.parametrize(
    "entry", ["dns.example.com", "127.0.0.1:0", "127.0.0.1:99999", "[::1", "1.2.3:x"]
)
def test_parse_nameservers_refuses_bad_entries(entry):
    with pytest.raises(ValueError):
        parse_nameservers([entry])
