"""The URL policy of steps 1 and 4: https, and public addresses only.

Host names are resolved here so the check can say which address broke the
policy; ``connections.outbound.fetch`` enforces the same policy again when it
connects, so a DNS answer that changes in between gains nothing.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from connections.checks_steps.results import CheckPolicy
from connections.oidc.errors import quoted
from connections.outbound import address_block_reason, blocked_host_detail


class ResolveError(Exception):
    """A host name that could not be resolved; str() is a sentence."""


Resolve = Callable[[str, int, float], list[str]]


def resolve_host(host: str, port: int, timeout: float) -> list[str]:
    """The addresses ``host`` resolves to, within ``timeout`` seconds.

    The system resolver has no timeout of its own, so it runs in a thread that
    is abandoned (not waited for) when the time is up.
    """
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise ResolveError(
            _("Looking up %(host)s in DNS took longer than %(seconds)s seconds.")
            % {"host": host, "seconds": f"{timeout:g}"}
        ) from None
    except (OSError, UnicodeError):
        raise ResolveError(
            _("%(host)s was not found in DNS.") % {"host": host}
        ) from None
    finally:
        pool.shutdown(wait=False)
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


class UrlPolicy:
    """Judges URLs under one ``CheckPolicy``; remembers what it resolved."""

    def __init__(self, policy: CheckPolicy, resolve: Resolve) -> None:
        self.allow_insecure = policy.allow_insecure
        self.allow_private = policy.allow_private
        self.dns_timeout = policy.dns_timeout
        self.resolve = resolve
        self.resolved: dict[tuple[str, int], list[str]] = {}

    def addresses_of(self, url: str) -> list[str]:
        """The addresses found for ``url``'s host by an earlier ``problem``."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        return next((a for (h, _p), a in self.resolved.items() if h == host), [])

    def problem(self, url: str, what: str) -> tuple[str, str] | None:
        """(detail, fix) when ``url`` breaks the URL policy, else None.

        ``what`` names the URL in the sentences, translated by the caller.
        """
        names = {"what": what, "url": quoted(url)}
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return (_("The %(what)s %(url)s is not a valid URL.") % names, "")
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if scheme not in ("http", "https") or not host:
            return (
                _("The %(what)s %(url)s is not an absolute https:// URL.") % names,
                _("Use an absolute https:// URL."),
            )
        if scheme == "http" and not self.allow_insecure:
            return (
                _("The %(what)s %(url)s uses plain http://; only https:// is allowed.")
                % names,
                _(
                    "Use the https:// URL. SSO_ALLOW_INSECURE_ISSUERS=True allows "
                    "http:// for a local IdP in development only."
                ),
            )
        port = port or (443 if scheme == "https" else 80)
        key = (host, port)
        if key not in self.resolved:
            try:
                # An address literal is judged as written, never looked up.
                self.resolved[key] = [str(ipaddress.ip_address(host))]
            except ValueError:
                pass
        if key not in self.resolved:
            try:
                self.resolved[key] = self.resolve(host, port, self.dns_timeout)
            except ResolveError as exc:
                return (
                    _("The %(what)s's host: %(problem)s")
                    % {"what": what, "problem": exc},
                    _(
                        "Check the spelling of the host name and that this "
                        "server's DNS can resolve it."
                    ),
                )
        addresses = self.resolved[key]
        if not addresses:
            return (
                _("The %(what)s's host %(host)s has no address.")
                % {"what": what, "host": host},
                "",
            )
        if self.allow_private:
            return None
        for address in addresses:
            reason = address_block_reason(address)
            if reason is not None:
                return (
                    _(
                        "The %(what)s's host %(problem)s; server-side fetches may "
                        "only reach public internet addresses."
                    )
                    % {
                        "what": what,
                        "problem": blocked_host_detail(host, address, reason),
                    },
                    _(
                        "Use the IdP's public URL. SSO_ALLOW_PRIVATE_NETWORKS=True "
                        "lets fetches reach your own network (development and "
                        "tests only)."
                    ),
                )
        return None
