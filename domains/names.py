"""Domain-name rules for domain verification. Pure: no ORM, no I/O, and of
Django only gettext for the sentences.

Public API::

    DomainNameError(ValueError)          # str(error) is a sentence for the user,
                                         # error.code a stable name for it
    normalize_domain(raw: str) -> str    # canonical ASCII (A-label) form
    check_domain_allowed(domain: str) -> None    # raises DomainNameError
    verification_record(domain: str, token: str) -> tuple[str, str]
    email_domain(email: str) -> str | None

Choices, and why:

* A pasted URL, ``host:port`` or email address is refused with a sentence asking
  for just the domain rather than silently extracted: guessing which part the
  person meant could verify a different name than the one they think they added.
* Names are mapped with UTS #46 (non-transitional, STD3 rules) and stored as
  A-labels, so ``Bücher.example`` and ``xn--bcher-kva.example`` are one domain.
* Public suffixes, ICANN and private ones alike (``com``, ``co.uk``,
  ``github.io``), are refused: many unrelated owners share them.
* Free-mail domains are refused by exact name only: anyone can get an address
  there, so sign-ins from them must never be routed to one organization's SSO.
  Their subdomains (``eu.gmail.com``) carry no one's mailboxes, so they are left to
  the DNS check like any other name.
* The TXT record is ``_sso-console-challenge.<domain>`` with the value
  ``sso-console-verification=<token>``; both prefixes are the constants below.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final

import idna
from django.utils.translation import gettext as _
from publicsuffixlist import PublicSuffixList

VERIFICATION_RECORD_PREFIX: Final = "_sso-console-challenge"
VERIFICATION_VALUE_PREFIX: Final = "sso-console-verification"

MAX_DOMAIN_LENGTH: Final = 253
MAX_LABEL_LENGTH: Final = 63
# One TXT character-string holds at most 255 bytes.
_MAX_TXT_STRING: Final = 255
# Anything longer than this cannot be a domain even before IDNA; refusing early
# keeps the Unicode mapping from chewing on megabytes of form input.
_MAX_RAW_LENGTH: Final = 1024
_MAX_EMAIL_LOCAL_PART: Final = 64

_LABEL_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# The WHATWG URL standard's "ends in a number" test for hosts.
_NUMERIC_LABEL_RE: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_\-.~+/=]+")

# Consumer and free email providers, by exact domain. Not exhaustive; it catches
# the common mistake of adding the domain of one's own personal address.
FREE_EMAIL_DOMAINS: Final[frozenset[str]] = frozenset(
    {
        "126.com",
        "163.com",
        "aim.com",
        "aol.com",
        "att.net",
        "bigpond.com",
        "btinternet.com",
        "comcast.net",
        "daum.net",
        "duck.com",
        "email.com",
        "fastmail.com",
        "fastmail.fm",
        "free.fr",
        "gmail.com",
        "gmx.at",
        "gmx.ch",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hanmail.net",
        "hey.com",
        "hotmail.co.uk",
        "hotmail.com",
        "hotmail.de",
        "hotmail.es",
        "hotmail.fr",
        "hotmail.it",
        "hushmail.com",
        "icloud.com",
        "inbox.ru",
        "laposte.net",
        "libero.it",
        "list.ru",
        "live.co.uk",
        "live.com",
        "live.de",
        "live.fr",
        "mac.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "naver.com",
        "orange.fr",
        "outlook.com",
        "outlook.de",
        "outlook.fr",
        "pm.me",
        "proton.me",
        "protonmail.ch",
        "protonmail.com",
        "qq.com",
        "rambler.ru",
        "rocketmail.com",
        "sbcglobal.net",
        "seznam.cz",
        "sina.com",
        "t-online.de",
        "tuta.com",
        "tuta.io",
        "tutanota.com",
        "tutanota.de",
        "verizon.net",
        "web.de",
        "wp.pl",
        "yahoo.co.jp",
        "yahoo.co.uk",
        "yahoo.com",
        "yahoo.de",
        "yahoo.fr",
        "yandex.com",
        "yandex.ru",
        "ymail.com",
        "zoho.com",
        "zohomail.com",
    }
)


class DomainNameError(ValueError):
    """A domain name that cannot be used; ``str()`` says why and what to do,
    ``code`` names the refusal (``domain_is_url``, ``domain_free_email``, ...)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def normalize_domain(raw: str) -> str:
    """Return ``raw`` as a lower-case ASCII domain name, or raise DomainNameError."""
    domain = _normalize(raw)
    if "." not in domain:
        raise _single_label_error(domain)
    return domain


def check_domain_allowed(domain: str) -> None:
    """Raise DomainNameError if the domain may not be claimed by an organization."""
    name = _normalize(domain)
    # Known suffixes only here: with unknown TLDs counted as public, "localhost"
    # would be called a public suffix instead of an incomplete name.
    if _public_suffix_list().is_public(name, accept_unknown=False):
        raise DomainNameError(
            _(
                '"%(name)s" is a public suffix shared by many owners, so no '
                "organization can claim all of it; add your own domain under it, "
                "like acme.%(name)s."
            )
            % {"name": name},
            code="domain_public_suffix",
        )
    if "." not in name:
        raise _single_label_error(name)
    if name in FREE_EMAIL_DOMAINS:
        raise DomainNameError(
            _(
                '"%(name)s" is a free email provider: anyone can get an address '
                "there, so it can't prove who belongs to your organization. Add "
                "your organization's own domain instead."
            )
            % {"name": name},
            code="domain_free_email",
        )
    if len(_record_name(name)) > MAX_DOMAIN_LENGTH:
        raise _too_long_to_verify(name)


def verification_record(domain: str, token: str) -> tuple[str, str]:
    """Return the (name, value) of the TXT record that proves control of ``domain``.

    Raises DomainNameError for a domain too long to carry the record, and
    ValueError for a token that could not be published as one TXT string.
    """
    domain = normalize_domain(domain)
    name = _record_name(domain)
    if len(name) > MAX_DOMAIN_LENGTH:
        raise _too_long_to_verify(domain)
    value = f"{VERIFICATION_VALUE_PREFIX}={token}"
    # Tokens come from the server, so a bad one is a bug, not a user mistake.
    if not _TOKEN_RE.fullmatch(token) or len(value) > _MAX_TXT_STRING:
        raise ValueError("verification token must be short, printable ASCII")
    return name, value


def email_domain(email: str) -> str | None:
    """Return the normalised domain of an email address, or None if it is not one."""
    text = email.strip()
    # Exactly one "@": quoted local parts containing "@" are legal but rare, and
    # parsers disagree on them, which is how routing tricks start.
    if text.count("@") != 1:
        return None
    local, _, domain = text.partition("@")
    if not local or len(local) > _MAX_EMAIL_LOCAL_PART:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in local):
        return None
    try:
        return normalize_domain(domain)
    except DomainNameError:
        return None


def _normalize(raw: str) -> str:
    """Normalise like normalize_domain, but let a single label through."""
    text = raw.strip()
    if not text:
        raise DomainNameError(
            _("Enter a domain name, like example.com."), code="domain_missing"
        )
    if len(text) > _MAX_RAW_LENGTH:
        raise DomainNameError(
            _(
                "That is too long to be a domain name; enter just the domain, like "
                "example.com."
            ),
            code="domain_input_too_long",
        )
    _refuse_non_domain_shapes(text)

    text = text.removesuffix(".")
    try:
        # UTS #46 lower-cases, maps full-width forms (including the ideographic
        # full stop) and, with STD3 rules, refuses anything outside LDH in ASCII.
        mapped = idna.uts46_remap(text, std3_rules=True, transitional=False)
    except idna.IDNAError:
        raise DomainNameError(
            _(
                '"%(name)s" is not a valid domain name: use only letters, digits, '
                "hyphens and dots, like example.com."
            )
            % {"name": raw.strip()},
            code="domain_invalid_characters",
        ) from None

    labels = [_label_to_ascii(label, raw) for label in mapped.split(".")]
    domain = ".".join(labels)

    if len(domain) > MAX_DOMAIN_LENGTH:
        raise DomainNameError(
            _(
                "That domain name is %(length)d characters long; a domain name can "
                "be at most %(max)d."
            )
            % {"length": len(domain), "max": MAX_DOMAIN_LENGTH},
            code="domain_too_long",
        )
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]) or _is_ip_address(domain):
        # No top-level domain is a number; a name ending in one is an IPv4 address
        # in a shorthand ("127.1", "0x7f.1") that resolvers and browsers accept.
        raise _ip_address_error(raw.strip())
    return domain


def _single_label_error(domain: str) -> DomainNameError:
    return DomainNameError(
        _(
            '"%(name)s" is not a full domain name; enter the whole domain, like '
            "example.com."
        )
        % {"name": domain},
        code="domain_incomplete",
    )


def _too_long_to_verify(domain: str) -> DomainNameError:
    return DomainNameError(
        _(
            '"%(name)s" is too long to verify: the TXT record name "%(record)s" '
            "would be longer than %(max)d characters."
        )
        % {"name": domain, "record": _record_name(domain), "max": MAX_DOMAIN_LENGTH},
        code="domain_too_long_to_verify",
    )


def _refuse_non_domain_shapes(text: str) -> None:
    """Refuse URLs, ports, emails and IP addresses with a sentence about each."""
    if "@" in text:
        raise DomainNameError(
            _(
                "That looks like an email address; enter just the domain, like "
                "example.com (the part after the @)."
            ),
            code="domain_is_email",
        )
    if "://" in text or "/" in text or "?" in text or "#" in text:
        raise DomainNameError(
            _(
                "That looks like a web address; enter just the domain, like "
                "example.com."
            ),
            code="domain_is_url",
        )
    if _is_ip_address(text.strip("[]")):
        raise _ip_address_error(text)
    if ":" in text:
        raise DomainNameError(
            _("A domain has no port number; enter just the domain, like example.com."),
            code="domain_has_port",
        )
    if any(ch.isspace() for ch in text):
        raise DomainNameError(
            _("A domain name has no spaces; enter just the domain, like example.com."),
            code="domain_has_spaces",
        )


def _label_to_ascii(label: str, raw: str) -> str:
    """Return one (already UTS #46-mapped) label in ASCII, checked for DNS syntax."""
    shown = raw.strip()
    if not label:
        raise DomainNameError(
            _(
                '"%(name)s" has an empty part between dots; enter the whole domain, '
                "like example.com."
            )
            % {"name": shown},
            code="domain_empty_label",
        )
    too_long = DomainNameError(
        _(
            '"%(name)s" has a part longer than %(max)d characters between dots; '
            "each part of a domain name can be at most %(max)d characters."
        )
        % {"name": shown, "max": MAX_LABEL_LENGTH},
        code="domain_label_too_long",
    )
    try:
        if not label.isascii():
            # Measure the encoded length first so a long label gets the length
            # sentence, not the "characters not allowed" one.
            if len("xn--") + len(label.encode("punycode")) > MAX_LABEL_LENGTH:
                raise too_long
            label = idna.alabel(label).decode("ascii")
        elif (
            label.startswith("xn--")
            and idna.alabel(idna.ulabel(label)).decode("ascii") != label
        ):
            # An A-label typed as-is must decode, and re-encode to itself, so
            # there is exactly one spelling of each domain.
            raise idna.IDNAError("non-canonical A-label")
    except idna.IDNAError:
        raise DomainNameError(
            _('"%(name)s" contains characters that are not allowed in a domain name.')
            % {"name": shown},
            code="domain_invalid_characters",
        ) from None
    if len(label) > MAX_LABEL_LENGTH:
        raise too_long
    if not _LABEL_RE.fullmatch(label):
        raise DomainNameError(
            _(
                '"%(name)s" is not a valid domain name: each part between dots uses '
                "only letters, digits and hyphens, and cannot start or end with a "
                "hyphen."
            )
            % {"name": shown},
            code="domain_invalid_label",
        )
    return label


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ip_address_error(text: str) -> DomainNameError:
    return DomainNameError(
        _(
            '"%(text)s" is an IP address; domain verification needs a domain name, '
            "like example.com."
        )
        % {"text": text},
        code="domain_is_ip_address",
    )


def _record_name(domain: str) -> str:
    return f"{VERIFICATION_RECORD_PREFIX}.{domain}"


@functools.cache
def _public_suffix_list() -> PublicSuffixList:
    # Built on first use, not at import: parsing the bundled list takes a moment.
    return PublicSuffixList()
