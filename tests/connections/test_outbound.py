"""The outbound HTTP client against small real servers on 127.0.0.1.

An audit hook makes any attempt to connect to a non-loopback address fail the
test before a packet leaves, and lets tests assert that a refusal happened
before any connection was attempted at all.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import logging
import pickle
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connections import outbound
from connections.outbound import OutboundError, address_block_reason, fetch
from tests.settings_setter import settings_setter

# Explicit arguments for talking to the local test servers.
LOCAL: dict[str, Any] = {
    "allow_private": True,
    "allow_insecure": True,
    "timeout": (1.0, 2.0),
}

# ---------------------------------------------------------------------------
# Network guard

_connect_attempts: list[tuple[Any, ...]] = []
_guard = {"active": False}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or not _guard["active"]:
        return
    address = args[1]
    if isinstance(address, tuple):
        host = str(address[0]).split("%", 1)[0]
        if not ipaddress.ip_address(host).is_loopback:
            raise RuntimeError(f"a test tried to connect to {host}")
        _connect_attempts.append(address)


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    _guard["active"] = True
    try:
        yield
    finally:
        _guard["active"] = False


@pytest.fixture
def connect_attempts() -> Callable[[], list[tuple[Any, ...]]]:
    """Socket connections attempted since the fixture was set up."""
    start = len(_connect_attempts)
    return lambda: _connect_attempts[start:]


# ---------------------------------------------------------------------------
# Servers


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # Set by the tls_server fixture only.
    certificate_name: str
    server_names: list[str | None]

    def __init__(self, routes: dict[str, Callable[[Handler], None]]) -> None:
        self.routes = routes
        self.connections = 0
        self.requests: list[Seen] = []
        super().__init__(("127.0.0.1", 0), Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        super().process_request(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            Seen(self.command, self.path, dict(self.headers.items()), body)
        )
        route = self.server.routes.get(urlsplit(self.path).path)
        if route is None:
            self.reply(404, b"not here", "text/plain")
        else:
            route(self)

    do_GET = do_POST = do_HEAD = dispatch

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, doc: Any) -> None:
        self.reply(status, json.dumps(doc).encode())

    def drip(self, data: bytes, interval: float = 0.05) -> None:
        """Send ``data`` a byte at a time, each well within any read timeout."""
        try:
            for byte in data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(interval)
        except OSError:
            pass  # the client gave up, which is what the test wants
        self.close_connection = True


def _token(handler: Handler) -> None:
    seen = handler.server.requests[-1]
    scheme, _, credentials = seen.headers.get("Authorization", "").partition(" ")
    user = base64.b64decode(credentials).decode() if scheme == "Basic" else None
    form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
    handler.reply_json(
        200,
        {"user": user, "form": form, "type": seen.headers.get("Content-Type")},
    )


def _unsized(handler: Handler) -> None:
    # No Content-Length: only the cap applied while streaming can stop this.
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Connection", "close")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b"x" * 1000)
    except OSError:
        pass
    handler.close_connection = True


def _drip_body(handler: Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "200")
    handler.end_headers()
    handler.wfile.flush()
    handler.drip(b" " * 200)


def _drip_unsized_body(handler: Handler) -> None:
    # Without a length, a cut connection looks like the end of the body.
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.flush()
    handler.drip(b" " * 200)


def _drip_headers(handler: Handler) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    handler.drip(b"X-Slow: " + b"a" * 200 + b"\r\n\r\n")


def _set_cookie(handler: Handler) -> None:
    handler.reply(
        200,
        json.dumps({"cookie": handler.headers.get("Cookie")}).encode(),
        headers={"Set-Cookie": "sid=abc; Path=/"},
    )


ROUTES: dict[str, Callable[[Handler], None]] = {
    "/json": lambda h: h.reply_json(200, {"ok": True}),
    "/redirect": lambda h: h.reply(
        302, b"", "text/plain", {"Location": "/elsewhere?code=leak"}
    ),
    "/big": lambda h: h.reply(200, b"x" * 5000, "application/octet-stream"),
    "/unsized": _unsized,
    "/bad-json": lambda h: h.reply(200, b"<html>sign in</html>", "text/html"),
    "/deep-json": lambda h: h.reply(200, b"[" * 100_000),
    "/token": _token,
    "/oauth-error": lambda h: h.reply_json(
        401,
        {
            "error": "invalid_client",
            "error_description": "client secret s3cr3t-value is wrong",
        },
    ),
    "/html-error": lambda h: h.reply(500, b"<html>trace</html>", "text/html"),
    "/drip-body": _drip_body,
    "/drip-unsized-body": _drip_unsized_body,
    "/drip-headers": _drip_headers,
    "/set-cookie": _set_cookie,
}


def _serve(server: ThreadingHTTPServer) -> Iterator[Any]:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve(Server(ROUTES))


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port whose listener completes the TCP handshake and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def outbound_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from settings_setter(monkeypatch, outbound)


# ---------------------------------------------------------------------------
# Fetching


def test_fetch_returns_json_from_a_private_address_when_allowed(server):
    response = fetch(server.url("/json"), **LOCAL)

    assert response.status == 200
    assert response.json() == {"ok": True}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["CONTENT-TYPE"] == "application/json"
    assert response.text() == '{"ok": true}'
    assert response.url == server.url("/json")
    assert server.requests[0].headers["User-Agent"].startswith("sso-console")


def test_post_sends_form_data_and_basic_auth(server):
    response = fetch(
        server.url("/token"),
        method="post",
        data={"grant_type": "authorization_code", "code": "abc 123"},
        auth=("client-id", "client secret:with colon"),
        **LOCAL,
    )

    assert response.json() == {
        "user": "client-id:client secret:with colon",
        "form": {"grant_type": "authorization_code", "code": "abc 123"},
        "type": "application/x-www-form-urlencoded",
    }
    assert server.requests[0].method == "POST"


def test_cookies_are_not_kept_between_fetches(server):
    fetch(server.url("/set-cookie"), **LOCAL)
    second = fetch(server.url("/set-cookie"), **LOCAL)

    assert second.json() == {"cookie": None}


def test_defaults_are_read_from_settings_at_call_time(server, outbound_settings):
    outbound_settings(SSO_ALLOW_PRIVATE_NETWORKS=False, SSO_ALLOW_INSECURE_ISSUERS=True)
    with pytest.raises(OutboundError) as refused:
        fetch(server.url("/json"))
    assert refused.value.kind == "policy"

    outbound_settings(SSO_ALLOW_PRIVATE_NETWORKS=True, OUTBOUND_MAX_BYTES=4)
    with pytest.raises(OutboundError) as too_large:
        fetch(server.url("/json"))
    assert too_large.value.kind == "too_large"

    outbound_settings(OUTBOUND_MAX_BYTES=1000)
    assert fetch(server.url("/json")).json() == {"ok": True}


# ---------------------------------------------------------------------------
# Address policy


def test_loopback_address_is_refused_before_connecting(server, connect_attempts):
    with pytest.raises(OutboundError) as error:
        fetch(server.url("/json"), allow_private=False, allow_insecure=True)

    assert error.value.kind == "policy"
    assert "loopback" in str(error.value)
    assert "SSO_ALLOW_PRIVATE_NETWORKS" in str(error.value)
    assert connect_attempts() == []
    assert server.connections == 0


def test_hostname_resolving_to_loopback_is_refused(server, connect_attempts):
    url = server.url("/json", host="localhost")

    with pytest.raises(OutboundError) as error:
        fetch(url, allow_private=False, allow_insecure=True)

    assert error.value.kind == "policy"
    assert "localhost does not resolve to a public internet address" in str(error.value)
    assert "127.0.0.1" not in str(error.value) and "::1" not in str(error.value)
    assert connect_attempts() == []
    assert server.connections == 0


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "169.254.169.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "0.0.0.0",
    ],
)
def test_internal_addresses_are_refused_without_network(host, connect_attempts):
    with pytest.raises(OutboundError) as error:
        fetch(f"https://{host}/latest/meta-data/", allow_private=False)

    assert error.value.kind == "policy"
    assert connect_attempts() == []


def test_pooled_connection_is_vetted_again_under_a_stricter_policy(server):
    fetch(server.url("/json"), **LOCAL)

    with pytest.raises(OutboundError) as error:
        fetch(server.url("/json"), allow_private=False, allow_insecure=True)

    assert error.value.kind == "policy"
    assert server.connections == 1
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://idp.example.com/", "plain http"),
        ("ftp://idp.example.com/", "https://"),
        ("file:///etc/passwd", "https://"),
        ("https://user:pw@idp.example.com/", "user name or password"),
        ("https://user@idp.example.com/", "user name or password"),
        ("https://idp.example.com/a b", "spaces"),
        ("https://idp.example.com\r\nX: y/", "control characters"),
        ("https:///path-only", "https://"),
        ("", "empty"),
    ],
)
def test_unacceptable_urls_are_refused_without_network(url, expected, connect_attempts):
    with pytest.raises(OutboundError) as error:
        fetch(url, allow_private=False, allow_insecure=False)

    assert error.value.kind == "policy"
    assert expected in str(error.value)
    assert "pw" not in str(error.value)
    assert connect_attempts() == []


def test_http_is_allowed_only_with_allow_insecure(server):
    with pytest.raises(OutboundError) as error:
        fetch(server.url("/json"), allow_private=True, allow_insecure=False)

    assert error.value.kind == "policy"
    assert "SSO_ALLOW_INSECURE_ISSUERS" in str(error.value)
    assert server.connections == 0


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("172.32.0.1", False),
        ("100.128.0.1", False),
        ("2606:4700:4700::1111", False),
        ("::ffff:8.8.8.8", False),
        ("64:ff9b::808:808", False),
        ("2002:808:808::1", False),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("10.0.0.1", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("100.127.255.255", True),
        ("0.0.0.0", True),
        ("0.1.2.3", True),
        ("224.0.0.1", True),
        ("239.255.255.250", True),
        ("255.255.255.255", True),
        ("240.0.0.1", True),
        ("192.0.2.1", True),
        ("198.18.0.1", True),
        ("::", True),
        ("::1", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("fd00:ec2::254", True),
        ("fec0::1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("::ffff:169.254.169.254", True),
        ("64:ff9b::a00:1", True),
        ("2002:7f00:1::1", True),
        ("2001:db8::1", True),
        ("2001::1", True),
    ],
)
def test_address_classifier(address, blocked):
    reason = address_block_reason(address)

    assert (reason is not None) is blocked, reason


def test_address_classifier_names_the_kind_of_address():
    assert address_block_reason("127.0.0.1") == "a loopback address"
    assert address_block_reason("10.1.2.3") == "a private network address"
    assert "metadata" in (address_block_reason("169.254.169.254") or "")
    assert "carrier-grade" in (address_block_reason("100.64.0.1") or "")
    assert "unique-local" in (address_block_reason("fd12::1") or "")


def test_address_classifier_rejects_non_addresses():
    with pytest.raises(ValueError):
        address_block_reason("localhost")


# ---------------------------------------------------------------------------
# Redirects, size, JSON, HTTP errors


def test_redirect_is_not_followed(server):
    with pytest.raises(OutboundError) as error:
        fetch(server.url("/redirect"), **LOCAL)

    assert error.value.kind == "redirect"
    assert error.value.status == 302
    assert server.url("/elsewhere") in str(error.value)
    assert "leak" not in str(error.value)
    assert [seen.path for seen in server.requests] == ["/redirect"]


def test_response_declared_over_max_bytes_is_refused(server):
    with pytest.raises(OutboundError) as error:
        fetch(server.url("/big"), max_bytes=4999, **LOCAL)

    assert error.value.kind == "too_large"
    assert "4,999 bytes" in str(error.value)
    assert len(fetch(server.url("/big"), max_bytes=5000, **LOCAL).content) == 5000


def test_response_without_length_is_capped_while_streaming(server):
    with pytest.raises(OutboundError) as error:
        fetch(server.url("/unsized"), max_bytes=10_000, **LOCAL)

    assert error.value.kind == "too_large"


@pytest.mark.parametrize("path", ["/bad-json", "/deep-json"])
def test_bad_json_raises_bad_json(server, path):
    response = fetch(server.url(path), **LOCAL)

    with pytest.raises(OutboundError) as error:
        response.json()

    assert error.value.kind == "bad_json"
    assert "not valid JSON" in str(error.value)
    assert "sign in" not in str(error.value)


def test_http_error_status_raises_with_a_redacted_excerpt(server):
    with pytest.raises(OutboundError) as error:
        fetch(
            server.url("/oauth-error"),
            method="POST",
            data={"client_secret": "s3cr3t-value"},
            **LOCAL,
        )

    message = str(error.value)
    assert error.value.kind == "http"
    assert error.value.status == 401
    assert "HTTP 401 Unauthorized" in message
    assert "invalid_client" in message
    assert "s3cr3t" not in message
    assert "client ID and secret" in message
    assert error.value.response is not None
    assert error.value.response.json()["error"] == "invalid_client"


def test_html_error_page_is_not_quoted(server):
    with pytest.raises(OutboundError) as error:
        fetch(server.url("/html-error"), **LOCAL)

    assert error.value.kind == "http"
    assert "trace" not in str(error.value)
    assert "try again later" in str(error.value)


def test_outbound_error_survives_pickling(server):
    with pytest.raises(OutboundError) as error:
        fetch(server.url("/oauth-error"), **LOCAL)

    copy = pickle.loads(pickle.dumps(error.value))

    assert (copy.kind, copy.status, str(copy)) == ("http", 401, str(error.value))
    assert copy.response.headers["content-type"] == "application/json"


# ---------------------------------------------------------------------------
# Timeouts and connection failures


def test_hung_server_times_out_within_the_read_timeout(hung_port):
    started = time.monotonic()

    with pytest.raises(OutboundError) as error:
        fetch(
            f"http://127.0.0.1:{hung_port}/",
            allow_private=True,
            allow_insecure=True,
            timeout=(0.5, 0.5),
        )

    assert error.value.kind == "timeout"
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("path", ["/drip-body", "/drip-unsized-body", "/drip-headers"])
def test_slow_drip_hits_the_total_deadline(server, path):
    started = time.monotonic()

    with pytest.raises(OutboundError) as error:
        fetch(
            server.url(path),
            allow_private=True,
            allow_insecure=True,
            timeout=(0.5, 0.5),
        )

    elapsed = time.monotonic() - started
    assert error.value.kind == "timeout"
    assert "did not finish answering within 1 seconds" in str(error.value)
    assert 0.9 <= elapsed < 2.0


def test_connection_refused_is_a_connection_error(closed_port):
    with pytest.raises(OutboundError) as error:
        fetch(f"http://127.0.0.1:{closed_port}/", **LOCAL)

    assert error.value.kind == "connection"
    assert "connection refused" in str(error.value)


# ---------------------------------------------------------------------------
# Logging


def test_log_names_method_host_and_status_only(server, caplog):
    caplog.set_level(logging.DEBUG, logger="connections.outbound")

    fetch(
        server.url("/token?code=query-secret"),
        method="POST",
        data={"code": "form-secret"},
        headers={"Authorization": "Bearer header-secret"},
        **LOCAL,
    )

    records = [r for r in caplog.records if r.name == "connections.outbound"]
    assert [r.getMessage() for r in records] == ["POST 127.0.0.1 200"]


def test_failures_are_logged_with_their_kind(closed_port, caplog):
    caplog.set_level(logging.INFO, logger="connections.outbound")

    with pytest.raises(OutboundError):
        fetch(f"http://127.0.0.1:{closed_port}/x?token=t0ken", **LOCAL)

    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["GET 127.0.0.1 failed: connection"]


# ---------------------------------------------------------------------------
# TLS: the vetted-IP connection still verifies the host name


def _issue_certificates(tmp: Path, hostname: str) -> tuple[Path, Path, Path]:
    """A throwaway CA, and a server certificate for ``hostname`` it signed."""
    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@pytest.fixture(params=["localhost", "idp.example.test"])
def tls_server(request, tmp_path, monkeypatch) -> Iterator[Server]:
    """An https server whose certificate names ``request.param``.

    The client trusts only the test CA. Server name indications are recorded.
    """
    ca_file, cert_file, key_file = _issue_certificates(tmp_path, request.param)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = Server(ROUTES)
    server.certificate_name = request.param
    server.server_names = []
    context.sni_callback = lambda _sock, name, _ctx: server.server_names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    session = outbound.build_session()
    session.verify = str(ca_file)
    monkeypatch.setattr(outbound, "get_session", lambda: session)
    yield from _serve(server)


def test_tls_verifies_the_host_name_while_connecting_to_the_vetted_ip(tls_server):
    url = tls_server.url("/json", host="localhost", scheme="https")

    if tls_server.certificate_name == "localhost":
        assert fetch(url, allow_private=True).json() == {"ok": True}
        assert tls_server.requests[0].headers["Host"] == f"localhost:{tls_server.port}"
    else:
        with pytest.raises(OutboundError) as error:
            fetch(url, allow_private=True)
        assert error.value.kind == "connection"
        assert "certificate" in str(error.value)
    assert set(tls_server.server_names) == {"localhost"}


def test_redact_removes_every_spelling_an_idp_may_quote_back():
    from urllib.parse import quote, quote_plus, unquote_plus

    from connections.outbound import redact

    secret = "a+b%2Fc&d=e/f~SECRET"
    for spelling in (
        secret,
        quote_plus(secret),
        quote(secret, safe=""),
        unquote_plus(secret),
    ):
        text = redact(
            f"invalid client secret '{spelling}' received", [quote(secret, safe="")]
        )
        assert spelling not in text and "[redacted]" in text
