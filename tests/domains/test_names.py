"""Pure tests for domains.names: no database, no network.

Refusals are asserted by their code; one test reads a sentence in full.
"""

from __future__ import annotations

import pytest

from domains.names import (
    FREE_EMAIL_DOMAINS,
    MAX_DOMAIN_LENGTH,
    DomainNameError,
    check_domain_allowed,
    email_domain,
    normalize_domain,
    verification_record,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com", "acme.com"),
        ("ACME.Com", "acme.com"),
        ("  acme.com \n", "acme.com"),
        ("acme.com.", "acme.com"),
        ("Sub.Acme.CO.UK.", "sub.acme.co.uk"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        # Full-width letters and the ideographic full stop, as some keyboards type.
        ("ＡＣＭＥ。com", "acme.com"),
        # Non-transitional UTS #46: "ß" is kept, not turned into "ss".
        ("straße.de", "xn--strae-oqa.de"),
        ("a-b.example", "a-b.example"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_normalize_domain_canonicalises(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


def test_normalize_domain_is_idempotent() -> None:
    once = normalize_domain(" Bücher.Example. ")
    assert normalize_domain(once) == once


def test_domain_of_exactly_253_characters_is_accepted() -> None:
    domain = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(domain) == MAX_DOMAIN_LENGTH
    assert normalize_domain(domain) == domain


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "domain_missing"),
        ("   ", "domain_missing"),
        ("https://acme.com/x", "domain_is_url"),
        ("acme.com/login", "domain_is_url"),
        ("acme.com:443", "domain_has_port"),
        ("admin@acme.com", "domain_is_email"),
        ("acme .com", "domain_has_spaces"),
        ("localhost", "domain_incomplete"),
        ("acme..com", "domain_empty_label"),
        ("acme.com..", "domain_empty_label"),
        ("acme_corp.com", "domain_invalid_characters"),
        ("-acme.com", "domain_invalid_label"),
        ("acme-.com", "domain_invalid_label"),
        ("\N{PILE OF POO}.la", "domain_invalid_characters"),
        ("xn--zz-.com", "domain_invalid_characters"),
    ],
)
def test_normalize_domain_refuses_with_a_code(raw: str, code: str) -> None:
    with pytest.raises(DomainNameError) as excinfo:
        normalize_domain(raw)
    assert excinfo.value.code == code


def test_a_refusal_says_what_to_type_instead() -> None:
    with pytest.raises(DomainNameError) as excinfo:
        normalize_domain("admin@acme.com")
    assert str(excinfo.value) == (
        "That looks like an email address; enter just the domain, like "
        "example.com (the part after the @)."
    )


@pytest.mark.parametrize(
    "raw",
    ["1.2.3.4", "127.0.0.1", "::1", "[::1]", "2001:db8::1", "127.1", "0x7f.1"],
)
def test_ip_addresses_are_refused(raw: str) -> None:
    with pytest.raises(DomainNameError) as excinfo:
        normalize_domain(raw)
    assert excinfo.value.code == "domain_is_ip_address"


@pytest.mark.parametrize("label", ["a" * 64, "ü" * 60])
def test_label_longer_than_63_characters_is_refused(label: str) -> None:
    with pytest.raises(DomainNameError) as excinfo:
        normalize_domain(f"{label}.com")
    assert excinfo.value.code == "domain_label_too_long"


def test_domain_longer_than_253_characters_is_refused() -> None:
    domain = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 62])
    with pytest.raises(DomainNameError) as excinfo:
        normalize_domain(domain)
    assert excinfo.value.code == "domain_too_long"
    assert "254" in str(excinfo.value)


def test_huge_input_is_refused_before_any_work() -> None:
    with pytest.raises(DomainNameError) as excinfo:
        normalize_domain("a." * 100_000 + "com")
    assert excinfo.value.code == "domain_input_too_long"


def test_domain_name_error_is_a_value_error() -> None:
    assert issubclass(DomainNameError, ValueError)


@pytest.mark.parametrize("domain", ["acme.com", "acme.co.uk", "acme.github.io"])
def test_ordinary_domains_are_allowed(domain: str) -> None:
    check_domain_allowed(domain)


@pytest.mark.parametrize(
    ("domain", "example"),
    [
        ("com", "acme.com"),
        ("co.uk", "acme.co.uk"),
        ("CO.UK.", "acme.co.uk"),
        ("github.io", "acme.github.io"),
    ],
)
def test_public_suffixes_are_refused(domain: str, example: str) -> None:
    with pytest.raises(DomainNameError) as excinfo:
        check_domain_allowed(domain)
    assert excinfo.value.code == "domain_public_suffix"
    assert example in str(excinfo.value)  # the name to add instead


def test_single_unknown_label_is_called_incomplete_not_public() -> None:
    with pytest.raises(DomainNameError) as excinfo:
        check_domain_allowed("localhost")
    assert excinfo.value.code == "domain_incomplete"


@pytest.mark.parametrize(
    "domain",
    ["gmail.com", "GMail.com.", "outlook.com", "proton.me", "yandex.ru", "163.com"],
)
def test_free_email_domains_are_refused(domain: str) -> None:
    with pytest.raises(DomainNameError) as excinfo:
        check_domain_allowed(domain)
    assert excinfo.value.code == "domain_free_email"
    assert f'"{normalize_domain(domain)}"' in str(excinfo.value)


def test_free_email_list_is_canonical() -> None:
    # A mis-typed entry (upper case, trailing dot) would silently never match.
    assert all(normalize_domain(d) == d for d in FREE_EMAIL_DOMAINS)
    assert {"gmail.com", "hotmail.com", "icloud.com", "qq.com"} <= FREE_EMAIL_DOMAINS


def test_subdomain_of_free_email_domain_is_allowed() -> None:
    check_domain_allowed("eu.gmail.com")


def test_domain_too_long_for_its_verification_record_is_refused() -> None:
    domain = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 40])
    normalize_domain(domain)
    with pytest.raises(DomainNameError) as allowed:
        check_domain_allowed(domain)
    with pytest.raises(DomainNameError) as record:
        verification_record(domain, "tok")
    assert allowed.value.code == record.value.code == "domain_too_long_to_verify"
    assert str(allowed.value) == str(record.value)


def test_check_domain_allowed_passes_on_normalisation_errors() -> None:
    with pytest.raises(DomainNameError) as excinfo:
        check_domain_allowed("https://gmail.com/")
    assert excinfo.value.code == "domain_is_url"


def test_verification_record_name_and_value() -> None:
    assert verification_record("Acme.COM.", "Zx9-_abc") == (
        "_sso-console-challenge.acme.com",
        "sso-console-verification=Zx9-_abc",
    )


def test_verification_record_uses_the_ascii_domain() -> None:
    name, _ = verification_record("bücher.example", "t")
    assert name == "_sso-console-challenge.xn--bcher-kva.example"


@pytest.mark.parametrize("token", ["", "has space", 'quo"te', "x" * 300, "ü"])
def test_verification_record_rejects_unpublishable_tokens(token: str) -> None:
    with pytest.raises(ValueError, match="verification token"):
        verification_record("acme.com", token)


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("alice@acme.com", "acme.com"),
        ("  Alice@ACME.com.  ", "acme.com"),
        ("alice+tag@sub.acme.co.uk", "sub.acme.co.uk"),
        ("jürgen@bücher.example", "xn--bcher-kva.example"),
        ("alice@gmail.com", "gmail.com"),
    ],
)
def test_email_domain_returns_the_normalised_domain(email: str, expected: str) -> None:
    assert email_domain(email) == expected


@pytest.mark.parametrize(
    "email",
    [
        "",
        "alice",
        "@acme.com",
        "alice@",
        "alice@bob@acme.com",
        "al ice@acme.com",
        "alice\n@acme.com",
        "alice@[127.0.0.1]",
        "alice@127.0.0.1",
        "alice@localhost",
        "alice@acme..com",
        "x" * 65 + "@acme.com",
    ],
)
def test_email_domain_is_none_for_invalid_addresses(email: str) -> None:
    assert email_domain(email) is None
