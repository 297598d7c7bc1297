"""The one HTTP client for every server-side fetch.

Discovery documents, JWKS, token and userinfo calls and connection checks all go
through ``fetch``, which enforces on every call:

* https only (http only when ``allow_insecure``), no credentials in the URL, and
  no redirects followed;
* an address policy applied when connecting, to the IP actually connected to: the
  host is resolved here, every address is vetted, and the socket goes to a vetted
  address while TLS (SNI and certificate checks) and ``Host`` keep using the host
  name. A DNS answer that changes between a check and the connection therefore
  cannot reach loopback, private, link-local (cloud metadata) or other internal
  addresses. Reused keep-alive connections are vetted again on every request;
* connect and read timeouts plus an overall deadline, so a server dripping one
  byte at a time cannot hold a worker;
* a response size cap applied while streaming;
* per IdP (host and port), a limit on concurrent calls and a circuit breaker
  that fails fast while it does not answer (``outbound_guard``).

Defaults come from Django settings at call time. Only the method, host and status
are logged: never query strings, bodies, headers or credentials. An error's
``kind`` is its stable code; its sentence is translated.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import contextvars
import functools
import html
import http
import ipaddress
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Final, TypeVar
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urljoin, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util import parse_url
from urllib3.util.connection import allowed_gai_family

logger = logging.getLogger(__name__)

ERROR_KINDS: Final = frozenset(
    {"policy", "timeout", "connection", "too_large", "redirect", "bad_json", "http"}
    # Refused by outbound_guard without being sent.
    | {"busy", "circuit_open"}
)
USER_AGENT: Final = f"sso-console (python-requests/{requests.__version__})"

# What requests and urllib3 raise for a failed exchange (urllib3 errors normally
# arrive wrapped, but not on every path).
_TRANSPORT_ERRORS: Final = (requests.RequestException, HTTPError, OSError)
_CHUNK_SIZE: Final = 64 * 1024
_EXCERPT_LENGTH: Final = 160
_METHOD_RE: Final = re.compile(r"[A-Z]{1,20}")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_CHARSET_RE: Final = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# Form fields that carry no secret; every other form value is redacted from
# error excerpts in case a server echoes the request back.
_PUBLIC_FORM_FIELDS: Final = frozenset(
    {"grant_type", "redirect_uri", "client_id", "scope", "response_type"}
)
_PUBLIC_HEADERS: Final = frozenset({"accept", "content-type", "user-agent"})
_PRIVATE_NETWORK_HINT: Final = gettext_lazy(
    "Server-side fetches may only reach public internet addresses. If this "
    "server really is on your own network, set SSO_ALLOW_PRIVATE_NETWORKS=True "
    "(development and tests only)."
)

# ---------------------------------------------------------------------------
# Errors and responses


class OutboundError(Exception):
    """A fetch that produced no usable response.

    ``kind`` is one of ``ERROR_KINDS``; ``str(error)`` is a sentence saying what
    happened and how to fix it, without secrets or response bodies. For
    ``kind="http"`` (status 400 and above) ``status`` and ``response`` are set, so
    a caller can read, say, an OAuth ``error`` field; for ``kind="redirect"``
    only ``status`` is.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        response: OutboundResponse | None = None,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"Unknown OutboundError kind {kind!r}.")
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.response = response

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments need help to survive pickling (task results).
        return (_rebuild_error, (str(self), self.kind, self.status, self.response))


def _rebuild_error(
    message: str, kind: str, status: int | None, response: OutboundResponse | None
) -> OutboundError:
    return OutboundError(message, kind=kind, status=status, response=response)


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive response headers."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: CaseInsensitiveDict[str] = CaseInsensitiveDict(items or {})

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self._items)!r})"


@dataclass(frozen=True)
class OutboundResponse:
    """A complete response: status, headers, the body (within the size cap)."""

    status: int
    headers: Headers
    content: bytes
    url: str

    def json(self) -> Any:
        """The body decoded as JSON; raises OutboundError(kind="bad_json")."""
        try:
            return json.loads(self.content)
        except (ValueError, RecursionError):
            content_type = _clean(self.headers.get("Content-Type", "none"), 60)
            raise OutboundError(
                _(
                    "The response from %(url)s is not valid JSON (Content-Type: "
                    "%(type)s). Check that the URL points at the JSON document "
                    "itself, not at a web page."
                )
                % {"url": _display_url(self.url), "type": content_type},
                kind="bad_json",
            ) from None

    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 by default)."""
        return self.content.decode(self._charset(), errors="replace")

    def _charset(self) -> str:
        match = _CHARSET_RE.search(self.headers.get("Content-Type", ""))
        if match:
            try:
                return codecs.lookup(match.group(1)).name
            except LookupError:
                pass
        return "utf-8"


# ---------------------------------------------------------------------------
# Address policy


_RFC1918: Final = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_SHARED_ADDRESS_SPACE: Final = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL: Final = ipaddress.ip_network("fc00::/7")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_E = TypeVar("_E", bound=BaseException)


def address_block_reason(address: str) -> str | None:
    """Why a server-side fetch may not connect to ``address``, or None if it may.

    ``address`` is an IPv4 or IPv6 literal (an IPv6 zone such as ``%eth0`` is
    ignored). The reason is a phrase such as "a loopback address". Raises
    ValueError when ``address`` is not an IP address.
    """
    return _block_reason(ipaddress.ip_address(address.split("%", 1)[0]))


def _block_reason(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address are judged by that address:
        # ::ffff:127.0.0.1 reaches loopback, and a NAT64 or 6to4 gateway would
        # forward to the embedded address.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _block_reason(embedded)
    if ip.is_unspecified:
        return _("an unspecified address")
    if ip.is_loopback:
        return _("a loopback address")
    if ip.is_link_local:
        return _("a link-local address (this includes cloud metadata services)")
    if ip in _SHARED_ADDRESS_SPACE:
        return _("a carrier-grade NAT (shared) address")
    if ip.is_multicast:
        return _("a multicast address")
    if any(ip in net for net in _RFC1918):
        return _("a private network address")
    if ip in _UNIQUE_LOCAL:
        return _("a unique-local (private) IPv6 address")
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return _("a site-local IPv6 address")
    if ip.is_reserved:
        return _("a reserved address")
    if ip.is_private or not ip.is_global:
        return _("a special-purpose address that is not on the public internet")
    return None


def blocked_host_detail(host: str, address: str, reason: str) -> str:
    """Why ``host`` may not be fetched, without the address a name resolved to.

    Naming the address would make every self-service check an oracle for what
    internal names resolve to; an address typed as the host is named as typed.
    """
    names = {"host": _clean(host, 120), "reason": reason}
    if host == address:
        # Translators: reason is a phrase such as "a loopback address".
        return _("%(host)s is %(reason)s") % names
    return _("%(host)s does not resolve to a public internet address") % names


def _policy_error(host: str, address: str, reason: str) -> OutboundError:
    return OutboundError(
        _("Refused to connect: %(problem)s. %(hint)s")
        % {
            "problem": blocked_host_detail(host, address, reason),
            "hint": _PRIVATE_NETWORK_HINT,
        },
        kind="policy",
    )


# ---------------------------------------------------------------------------
# Per-call state shared with the connection classes


class _Deadline:
    """An overall wall-clock limit for one fetch.

    Socket timeouts bound each read, not the whole exchange: a server sending a
    byte every few seconds never trips them. A timer shuts the fetch's sockets
    down when the deadline passes, which wakes any blocked read (in the TLS
    handshake, the headers or the body). It watches duplicates of the sockets
    because TLS wrapping replaces the socket object mid-handshake.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._expires_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._expired = False
        self._finished = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def expired(self) -> bool:
        return self._expired

    def remaining(self) -> float:
        return self._expires_at - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        fd = sock.fileno()
        if fd < 0:
            return
        duplicate = socket.fromfd(fd, sock.family, sock.type, sock.proto)
        with self._lock:
            if not self._finished and not self._expired:
                self._watched.append(duplicate)
                return
            expired = self._expired
        if expired:
            _shutdown(duplicate)
        duplicate.close()

    def finish(self) -> None:
        """Stop the timer and release the watched duplicates."""
        self._timer.cancel()
        with self._lock:
            self._finished = True
            watched, self._watched = self._watched, []
        for duplicate in watched:
            duplicate.close()

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._expired = True
            for duplicate in self._watched:
                _shutdown(duplicate)


def _shutdown(sock: socket.socket) -> None:
    # Already closed or never connected: nothing left to interrupt.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@dataclass(frozen=True)
class _CallState:
    allow_private: bool
    deadline: _Deadline | None


# Set by fetch() for the duration of one call. Without it (someone using the
# session directly) the strict policy applies and there is no deadline.
_call_state: contextvars.ContextVar[_CallState | None] = contextvars.ContextVar(
    "outbound_call_state", default=None
)


def _current_state() -> _CallState:
    return _call_state.get() or _CallState(allow_private=False, deadline=None)


# ---------------------------------------------------------------------------
# Transport: urllib3 connections that vet the address they connect to


class _VettedHTTPConnection(HTTPConnection):
    """Resolves the host itself and connects only to addresses the policy allows.

    ``self.host`` is left alone, so ``Host``, SNI and certificate verification
    still use the host name.
    """

    def _new_conn(self) -> socket.socket:
        state = _current_state()
        try:
            addresses = socket.getaddrinfo(
                self._dns_host, self.port, allowed_gai_family(), socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc

        refused: tuple[str, str] | None = None
        failure: Exception | None = None
        for family, socktype, proto, _canonname, sockaddr in addresses:
            address = str(sockaddr[0])
            reason = None if state.allow_private else address_block_reason(address)
            if reason is not None:
                # Other addresses of the host may still be public: try them.
                refused = refused or (address, reason)
                continue
            timeout = self._attempt_timeout(state.deadline)
            sock = socket.socket(family, socktype, proto)
            try:
                if state.deadline is not None:
                    state.deadline.watch(sock)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except TimeoutError as exc:
                sock.close()
                failure = ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out."
                )
                failure.__cause__ = exc
                continue
            except OSError as exc:
                sock.close()
                failure = NewConnectionError(
                    self, f"Failed to establish a new connection: {exc}"
                )
                failure.__cause__ = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock

        if failure is not None:
            raise failure
        if refused is not None:
            raise _policy_error(self.host, *refused)
        raise NewConnectionError(self, f"{self.host} has no usable address.")

    def _attempt_timeout(self, deadline: _Deadline | None) -> float | None:
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        if deadline is None:
            return timeout
        remaining = deadline.remaining()
        if remaining <= 0:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.")
        return remaining if timeout is None else min(timeout, remaining)

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A pooled keep-alive connection skips _new_conn: vet its peer again
        # under this call's policy and bring it under this call's deadline.
        if self.sock is not None:
            state = _current_state()
            try:
                peer = str(self.sock.getpeername()[0])
            except OSError:
                self.close()  # dead socket: http.client reconnects via _new_conn
            else:
                reason = None if state.allow_private else address_block_reason(peer)
                if reason is not None:
                    self.close()
                    raise _policy_error(self.host, peer, reason)
                if state.deadline is not None:
                    state.deadline.watch(self.sock)
        super().request(*args, **kwargs)


class _VettedHTTPSConnection(_VettedHTTPConnection, HTTPSConnection):
    pass


class _VettedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _VettedHTTPConnection


class _VettedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _VettedHTTPSConnection


class VettingAdapter(HTTPAdapter):
    """A requests adapter whose connections enforce the address policy."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _VettedHTTPConnectionPool,
            "https": _VettedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # Through a proxy the policy would vet the proxy, not the destination.
        raise OutboundError(
            _(
                "Outbound requests cannot go through a proxy: the address policy "
                "must see the real destination."
            ),
            kind="policy",
        )


def build_session() -> requests.Session:
    """A new session configured for server-side fetches."""
    session = requests.Session()
    # The environment could route requests through a proxy (which would defeat
    # the address policy) or add credentials from ~/.netrc.
    session.trust_env = False
    session.headers["User-Agent"] = USER_AGENT
    # Uncompressed, so the size cap bounds the bytes read as well as the bytes
    # kept.
    session.headers["Accept-Encoding"] = "identity"
    # Cookies from one identity provider must never ride along to another.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = VettingAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@functools.cache
def get_session() -> requests.Session:
    """The process-wide session every fetch uses; patch this to substitute one."""
    return build_session()


# ---------------------------------------------------------------------------
# fetch()


@dataclass(frozen=True)
class _Target:
    host: str
    display: str


def fetch(
    url: str,
    *,
    method: str = "GET",
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: tuple[float, float] | None = None,
    max_bytes: int | None = None,
    allow_private: bool | None = None,
    allow_insecure: bool | None = None,
) -> OutboundResponse:
    """Make one HTTP request under the outbound policy and return the response.

    ``data`` is sent form-encoded, ``auth`` as HTTP Basic. ``timeout`` is
    ``(connect, read)`` in seconds; the whole call is also limited to their sum.
    Unset arguments come from settings at call time: OUTBOUND_CONNECT_TIMEOUT,
    OUTBOUND_READ_TIMEOUT, OUTBOUND_MAX_BYTES, SSO_ALLOW_PRIVATE_NETWORKS and
    SSO_ALLOW_INSECURE_ISSUERS. Returns responses with status below 300; raises
    OutboundError for anything else (see ``ERROR_KINDS``).
    """
    if timeout is None:
        timeout = (
            float(_setting("OUTBOUND_CONNECT_TIMEOUT", 3.0)),
            float(_setting("OUTBOUND_READ_TIMEOUT", 5.0)),
        )
    connect_timeout, read_timeout = (float(t) for t in timeout)
    if connect_timeout <= 0 or read_timeout <= 0:
        raise ValueError("Timeouts must be positive.")
    if max_bytes is None:
        max_bytes = int(_setting("OUTBOUND_MAX_BYTES", 1_000_000))
    if allow_private is None:
        allow_private = bool(_setting("SSO_ALLOW_PRIVATE_NETWORKS", False))
    if allow_insecure is None:
        allow_insecure = bool(_setting("SSO_ALLOW_INSECURE_ISSUERS", False))
    method = method.upper()
    if not _METHOD_RE.fullmatch(method):
        raise ValueError(f"Invalid HTTP method {method!r}.")

    target = _check_url(url, allow_insecure=allow_insecure)
    # Per-IdP concurrency limit and circuit breaker; imported here because the
    # guard raises this module's OutboundError.
    from connections.outbound_guard import guarded

    with guarded(url):
        deadline = _Deadline(connect_timeout + read_timeout)
        token = _call_state.set(
            _CallState(allow_private=allow_private, deadline=deadline)
        )
        try:
            return _send(
                url,
                target,
                method=method,
                data=data,
                headers=headers,
                auth=auth,
                timeouts=(connect_timeout, read_timeout),
                max_bytes=max_bytes,
                deadline=deadline,
            )
        except OutboundError as exc:
            if exc.status is None:
                logger.warning("%s %s failed: %s", method, target.host, exc.kind)
            raise
        finally:
            deadline.finish()
            _call_state.reset(token)


def _send(
    url: str,
    target: _Target,
    *,
    method: str,
    data: dict[str, Any] | None,
    headers: dict[str, str] | None,
    auth: tuple[str, str] | None,
    timeouts: tuple[float, float],
    max_bytes: int,
    deadline: _Deadline,
) -> OutboundResponse:
    try:
        raw = get_session().request(
            method,
            url,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeouts,
            allow_redirects=False,
            stream=True,
        )
    except OutboundError:
        raise
    except _TRANSPORT_ERRORS as exc:
        # "from None": urllib3's messages carry the full URL, query included.
        raise _transport_error(exc, target, timeouts, deadline) from None

    with raw:
        logger.info("%s %s %s", method, target.host, raw.status_code)
        if 300 <= raw.status_code < 400:
            raise _redirect_error(raw, target)
        content = _read_capped(raw, target, timeouts, max_bytes, deadline)

    response = OutboundResponse(
        status=raw.status_code,
        headers=Headers(raw.headers),
        content=content,
        url=raw.url,
    )
    if response.status >= 400:
        raise _http_error(response, target, _secret_values(data, headers, auth))
    return response


def _read_capped(
    raw: requests.Response,
    target: _Target,
    timeouts: tuple[float, float],
    max_bytes: int,
    deadline: _Deadline,
) -> bytes:
    too_large = OutboundError(
        _(
            "The response from %(url)s is larger than the limit of %(max)s bytes, "
            "so it was not read. Check the URL; if the document really is this "
            "large, raise OUTBOUND_MAX_BYTES."
        )
        % {"url": target.display, "max": f"{max_bytes:,}"},
        kind="too_large",
    )
    declared = raw.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in raw.iter_content(chunk_size=_CHUNK_SIZE):
            total += len(chunk)
            if total > max_bytes:
                raise too_large
            chunks.append(chunk)
    except OutboundError:
        raise
    except _TRANSPORT_ERRORS as exc:
        raise _transport_error(exc, target, timeouts, deadline) from None
    # A shutdown by the deadline can look like a clean end of a body that has
    # no Content-Length: never return such a truncated body.
    if deadline.expired:
        raise _deadline_error(target, deadline)
    return b"".join(chunks)


# ---------------------------------------------------------------------------
# Messages


def _check_url(url: str, *, allow_insecure: bool) -> _Target:
    if not isinstance(url, str) or not url or _CONTROL_RE.search(url) or " " in url:
        raise OutboundError(
            _(
                "The URL is empty or contains spaces or control characters. Use an "
                "absolute https:// URL."
            ),
            kind="policy",
        )
    try:
        parsed = parse_url(url)
        split = urlsplit(url)
        split.port  # noqa: B018 -- parsing the port validates it
    except (LocationParseError, ValueError):
        raise OutboundError(
            _(
                "The URL is not valid. Use an absolute https:// URL such as "
                "'https://example.okta.com'."
            ),
            kind="policy",
        ) from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") or not parsed.host:
        raise OutboundError(
            _(
                "Only absolute https:// URLs can be fetched. Use a URL such as "
                "'https://example.okta.com'."
            ),
            kind="policy",
        )
    host = _clean(parsed.host, 255)
    if parsed.auth is not None or "@" in split.netloc:
        raise OutboundError(
            _(
                "The URL for %(host)s contains a user name or password. Remove the "
                "credentials from the URL."
            )
            % {"host": host},
            kind="policy",
        )
    target = _Target(host=host, display=_display_url(url))
    if scheme == "http" and not allow_insecure:
        raise OutboundError(
            _(
                "Refused to fetch %(url)s: plain http:// is not allowed. Use "
                "https://, or set SSO_ALLOW_INSECURE_ISSUERS=True for a local "
                "identity provider in development."
            )
            % {"url": target.display},
            kind="policy",
        )
    return target


def _transport_error(
    exc: BaseException,
    target: _Target,
    timeouts: tuple[float, float],
    deadline: _Deadline,
) -> OutboundError:
    if deadline.expired:
        return _deadline_error(target, deadline)
    host = {"host": target.host, "url": target.display}
    if isinstance(exc, requests.ConnectTimeout):
        return OutboundError(
            _(
                "Could not connect to %(host)s within %(seconds)s seconds. Check "
                "that the server is up and reachable from this server (DNS, "
                "firewall)."
            )
            % {**host, "seconds": f"{timeouts[0]:g}"},
            kind="timeout",
        )
    if isinstance(exc, requests.ReadTimeout) or _caused_by(exc, ReadTimeoutError):
        return OutboundError(
            _(
                "%(url)s did not answer within %(seconds)s seconds. The server may "
                "be overloaded; try again later."
            )
            % {**host, "seconds": f"{timeouts[1]:g}"},
            kind="timeout",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return OutboundError(
            _(
                "The secure (TLS) connection to %(host)s failed: its certificate "
                "could not be verified or the handshake failed. The server needs a "
                "valid certificate for this host name from a public certificate "
                "authority."
            )
            % host,
            kind="connection",
        )
    if _caused_by(exc, NameResolutionError):
        return OutboundError(
            _("Could not find %(host)s in DNS. Check the host name in the URL.") % host,
            kind="connection",
        )
    if _caused_by(exc, NewConnectionError):
        # The operating system's own words (strerror), as it gives them.
        why = next(
            (e.strerror for e in _chain(exc) if isinstance(e, OSError) and e.strerror),
            _("the connection failed"),
        )
        return OutboundError(
            _(
                "Could not connect to %(host)s (%(why)s). Check the URL and that the "
                "server is running and reachable from this server."
            )
            % {**host, "why": _clean(why, 80).lower()},
            kind="connection",
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.URLRequired):
        return OutboundError(
            _("The URL is not valid. Use an absolute https:// URL."), kind="policy"
        )
    return OutboundError(
        _(
            "The connection to %(host)s broke before a complete response arrived. "
            "Try again; if it keeps failing, check the server."
        )
        % host,
        kind="connection",
    )


def _deadline_error(target: _Target, deadline: _Deadline) -> OutboundError:
    return OutboundError(
        _(
            "%(url)s did not finish answering within %(seconds)s seconds, so the "
            "request was abandoned. The server is too slow; try again later."
        )
        % {"url": target.display, "seconds": f"{deadline.seconds:g}"},
        kind="timeout",
    )


def _redirect_error(raw: requests.Response, target: _Target) -> OutboundError:
    location = raw.headers.get("Location")
    names = {"url": target.display, "status": raw.status_code}
    if location:
        message = _(
            "%(url)s answered with a redirect (HTTP %(status)s) to %(location)s; "
            "redirects are not followed. Use the final URL directly."
        ) % {**names, "location": _display_url(urljoin(raw.url, location))}
    else:
        message = (
            _(
                "%(url)s answered with a redirect (HTTP %(status)s) without a "
                "Location; redirects are not followed. Check the URL."
            )
            % names
        )
    return OutboundError(message, kind="redirect", status=raw.status_code)


def _http_error(
    response: OutboundResponse, target: _Target, secrets: list[str]
) -> OutboundError:
    status = response.status
    try:
        phrase = f" {http.HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    # The server's own words (status phrase, OAuth error), untranslated.
    excerpt = _safe_excerpt(response, secrets)
    said = f" ({excerpt})" if excerpt else ""
    if status in (401, 403):
        fix = _(
            "Check the credentials (client ID and secret) and that this client may "
            "call this endpoint."
        )
    elif status in (404, 405, 410):
        fix = _("Check that the URL is right.")
    elif status == 429:
        fix = _("The server is rate-limiting requests; try again in a minute.")
    elif status >= 500:
        fix = _("The server had a problem; try again later.")
    else:
        fix = _("The server rejected the request; check the configuration.")
    return OutboundError(
        _("%(url)s answered with HTTP %(status)s%(phrase)s%(said)s. %(fix)s")
        % {
            "url": target.display,
            "status": status,
            "phrase": phrase,
            "said": said,
            "fix": fix,
        },
        kind="http",
        status=status,
        response=response,
    )


def _safe_excerpt(response: OutboundResponse, secrets: list[str]) -> str:
    """A short, printable excerpt of an error body with known secrets removed.

    Only OAuth-style JSON error fields and plain text qualify; HTML pages and
    other documents are never quoted.
    """
    content_type = response.headers.get("Content-Type", "").lower()
    text = ""
    if "json" in content_type:
        try:
            doc = json.loads(response.content)
        except (ValueError, RecursionError):
            return ""
        if isinstance(doc, dict):
            fields = ("error", "error_description", "errorSummary")
            text = ": ".join(v for f in fields if isinstance(v := doc.get(f), str))
    elif content_type.startswith("text/plain"):
        text = response.content[:1000].decode("utf-8", errors="replace")
    # Redact before folding whitespace (a secret may hold two spaces) and
    # before truncating, so no prefix of a secret survives the cut.
    text = " ".join(_CONTROL_RE.sub(" ", redact(text, secrets)).split())
    return _clean(text, _EXCERPT_LENGTH)


def basic_credentials(user: str, password: str) -> str:
    """What HTTP Basic authentication sends for ``user`` and ``password``."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def secret_spellings(secret: str) -> set[str]:
    """``secret`` as sent and as an IdP may quote it back: raw, form-encoded,
    URL-quoted, and form- or URL-decoded. ``secret`` may itself be the encoded
    form that went into Basic auth, so its decoded forms are spelled out too."""
    spellings: set[str] = set()
    for base in {secret, unquote(secret), unquote_plus(secret)}:
        spellings |= {
            base,
            html.escape(base),
            quote_plus(base),
            quote(base, safe=""),
            unquote_plus(base),
            unquote(base),
        }
    return {s for s in spellings if len(s) >= 4}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every spelling of every secret replaced by [redacted]."""
    spellings = {s for secret in secrets if secret for s in secret_spellings(secret)}
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, "[redacted]")
    return text


def _secret_values(
    data: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    auth: tuple[str, str] | None,
) -> list[str]:
    values: list[str] = []
    if auth is not None:
        values.append(str(auth[1]))
        # An IdP or a proxy may echo the Authorization header itself.
        values.append(basic_credentials(str(auth[0]), str(auth[1])))
    for key, value in (data or {}).items():
        if key not in _PUBLIC_FORM_FIELDS:
            values.append(str(value))
    for key, value in (headers or {}).items():
        if key.lower() not in _PUBLIC_HEADERS:
            values.append(str(value))
            # "Bearer <token>": the token alone may be echoed too.
            values.extend(part for part in str(value).split() if len(part) >= 8)
    return [v for v in values if len(v) >= 4]


def _display_url(url: str) -> str:
    """scheme://host[:port]/path of ``url``: no credentials, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return _clean(f"{parts.scheme}://{netloc}{parts.path or '/'}", 200)


def _clean(text: str, limit: int) -> str:
    text = _CONTROL_RE.sub("", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _caused_by(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of ``kind`` among ``exc`` and what it wraps."""
    return next((e for e in _chain(exc) if isinstance(e, kind)), None)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions requests and urllib3 wrapped in it."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            *current.args,
        ]
        pending.extend(e for e in linked if isinstance(e, BaseException))


def _setting(name: str, default: Any) -> Any:
    # Read on every call, never at import, so overrides and late configuration
    # apply; outside a configured Django project the defaults hold.
    try:
        return getattr(settings, name, default)
    except ImproperlyConfigured:
        return default
