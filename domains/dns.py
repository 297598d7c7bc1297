"""DNS TXT look-ups for domain verification.

``txt_lookup`` asks the configured name servers (``settings.DNS_NAMESERVERS``, a
list of ``host:port`` strings, or the system resolver when it is empty) and never
raises for DNS problems: every result, good or bad, is a ``TxtLookup`` whose
``detail`` is a sentence naming the looked-up name (``outcome`` is its stable
code). Nothing is cached, so a record someone just created is seen on the next
check.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

logger = logging.getLogger(__name__)

OUTCOMES: Final = frozenset({"found", "nxdomain", "no_answer", "timeout", "error"})
_DEFAULT_PORT: Final = 53


@dataclass
class TxtLookup:
    """The result of one TXT look-up.

    ``outcome`` is one of ``OUTCOMES``. ``values`` holds one string per TXT
    record, its character-strings concatenated (as SPF and verification records
    are read, RFC 7208 section 3.3); it is empty unless the outcome is "found".
    """

    outcome: str
    values: list[str] = field(default_factory=list)
    detail: str = ""


def parse_nameservers(entries: str | Iterable[str]) -> list[tuple[str, int]]:
    """``["192.0.2.1:53", "[2001:db8::1]:5353", "192.0.2.2"]`` as (address, port).

    A string is split on commas. Servers must be IP addresses (a resolver needs
    one to reach them); the port defaults to 53. Raises ValueError with a
    sentence naming the bad entry.
    """
    if isinstance(entries, str):
        entries = entries.split(",")
    servers = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        host, port = _split_host_port(entry)
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            raise ValueError(
                f"DNS server {entry!r} is not an IP address: write it as "
                "'192.0.2.53:53' or '[2001:db8::53]:53'."
            ) from None
        servers.append((address, port))
    return servers


def _split_host_port(entry: str) -> tuple[str, int]:
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(
                f"DNS server {entry!r} is not written as '[address]:port'."
            )
        port_text = rest[1:]
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
    else:  # an IPv4 address or host without port, or a bare IPv6 address
        host, port_text = entry, ""
    if not port_text:
        return host, _DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"DNS server {entry!r} has an invalid port.")
    return host, int(port_text)


def txt_lookup(
    name: str,
    *,
    nameservers: list[tuple[str, int]] | None = None,
    timeout: float | None = None,
) -> TxtLookup:
    """Look up the TXT records of ``name``; never raises for DNS problems.

    ``nameservers`` defaults to ``settings.DNS_NAMESERVERS`` (read now), then to
    the system resolver; ``timeout`` (seconds, for the whole look-up) defaults to
    ``settings.DNS_TIMEOUT``, then 2.
    """
    if timeout is None:
        timeout = float(_setting("DNS_TIMEOUT", 2.0))
    shown = _shown(name)
    try:
        qname = dns.name.from_text(name.strip())
    except (dns.exception.DNSException, ValueError, UnicodeError):
        return _result(
            "error",
            shown,
            _("%(name)s is not a valid DNS name.") % {"name": repr(shown)},
        )
    shown = qname.to_text(omit_final_dot=True)

    try:
        resolver = _resolver(nameservers, timeout)
    except (ValueError, dns.exception.DNSException, OSError) as exc:
        logger.warning("DNS resolver is misconfigured: %s", exc)
        return _result(
            "error",
            shown,
            _(
                "Could not look up %(name)s: the DNS servers of this installation "
                "are not configured correctly (DNS_NAMESERVERS). Ask the "
                "administrator to fix them."
            )
            % {"name": shown},
        )

    try:
        answer = resolver.resolve(
            qname, dns.rdatatype.TXT, search=False, lifetime=timeout
        )
    except dns.resolver.NXDOMAIN:
        return _result(
            "nxdomain",
            shown,
            _(
                "The name %(name)s does not exist in DNS. Create the TXT record at "
                "exactly this name, then check again; new records can take a few "
                "minutes to appear."
            )
            % {"name": shown},
        )
    except dns.resolver.NoAnswer:
        return _result(
            "no_answer",
            shown,
            _(
                "The name %(name)s exists but has no TXT record. Add the TXT record "
                "at this name, then check again."
            )
            % {"name": shown},
        )
    except dns.exception.Timeout:
        return _result(
            "timeout",
            shown,
            _(
                "No DNS server answered the look-up of %(name)s within %(seconds)s "
                "seconds. Try again in a few minutes."
            )
            % {"name": shown, "seconds": f"{timeout:g}"},
        )
    except (dns.exception.DNSException, OSError):
        # NoNameservers (SERVFAIL, REFUSED from every server) and the like.
        return _result(
            "error",
            shown,
            _(
                "The DNS servers could not answer the look-up of %(name)s (for "
                "example because the domain's own DNS servers are failing). Try "
                "again later; if it keeps failing, check the domain's DNS hosting."
            )
            % {"name": shown},
        )

    values = [
        b"".join(rdata.strings).decode("utf-8", errors="replace") for rdata in answer
    ]
    return _result(
        "found",
        shown,
        ngettext(
            "Found %(count)d TXT record at %(name)s.",
            "Found %(count)d TXT records at %(name)s.",
            len(values),
        )
        % {"count": len(values), "name": shown},
        values,
    )


def _resolver(
    nameservers: list[tuple[str, int]] | None, timeout: float
) -> dns.resolver.Resolver:
    if nameservers is None:
        configured = _setting("DNS_NAMESERVERS", None)
        nameservers = parse_nameservers(configured) if configured else None
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port)
            for address, port in nameservers
        ]
    else:
        resolver = dns.resolver.Resolver()  # /etc/resolv.conf
    # Half the budget per query leaves room to retry a lost UDP packet or ask
    # the next server; the lifetime bounds the whole look-up.
    resolver.timeout = timeout / 2
    resolver.lifetime = timeout
    resolver.cache = None
    return resolver


def _result(
    outcome: str, shown: str, detail: str, values: list[str] | None = None
) -> TxtLookup:
    logger.info("TXT %s: %s", shown, outcome)
    return TxtLookup(outcome=outcome, values=values or [], detail=detail)


def _shown(name: str) -> str:
    """``name`` as it may appear in a sentence: printable and short."""
    text = "".join(ch for ch in str(name).strip() if ch.isprintable())
    text = text.rstrip(".")
    return text if len(text) <= 260 else text[:259] + "…"


def _setting(name: str, default: Any) -> Any:
    # Read on every call, never at import; outside a configured Django project
    # the defaults hold.
    try:
        return getattr(settings, name, default)
    except ImproperlyConfigured:
        return default
