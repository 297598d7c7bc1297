"""A tiny scriptable OpenID Provider on loopback, for hand-made (hostile) tokens.

The real IdP (``oidc_idp``) only issues good tokens. This one serves a
discovery document, a JWKS and a token endpoint over real HTTP on 127.0.0.1,
and answers the token request with whatever the test prepared: a token signed
with the wrong key, with ``alg: none``, expired, for another audience, an HTTP
500, an HTML page, or nothing at all for a while.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

CLIENT_ID = "console-client"
CLIENT_SECRET = "fake-idp-secret-Value_1"


@cache
def rsa_key(name: str = "main") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key(name: str = "main") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Reply:
    """What an endpoint answers: status, content type, body, after ``delay``."""

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"
    delay: float = 0.0

    @classmethod
    def json(cls, doc: Any, status: int = 200) -> Reply:
        return cls(status=status, body=json.dumps(doc).encode())


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)


class FakeIdP:
    """One fake provider; its issuer is its origin, e.g. http://127.0.0.1:PORT."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[SeenRequest] = []
        self.metadata_changes: dict[str, Any] = {}
        self.jwks_keys: list[dict[str, Any]] = [
            self.public_jwk(rsa_key(), "rsa-1", "RS256"),
            self.public_jwk(ec_key(), "ec-1", "ES256"),
        ]
        # Where the key set is served (a test may move it, as IdPs do).
        self.jwks_path = "/jwks"
        self.next_id_token: str | None = None
        self.token_reply: Callable[[SeenRequest], Reply] | None = None
        self.userinfo: dict[str, Any] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.origin
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ documents

    @property
    def metadata(self) -> dict[str, Any]:
        doc = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.origin}/authorize",
            "token_endpoint": f"{self.origin}/token",
            "jwks_uri": f"{self.origin}{self.jwks_path}",
            "userinfo_endpoint": f"{self.origin}/userinfo",
            "end_session_endpoint": f"{self.origin}/logout",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }
        doc.update(self.metadata_changes)
        return doc

    @staticmethod
    def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
        if alg.startswith("ES"):
            jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {**jwk, "kid": kid, "use": "sig", "alg": alg}

    def claims(self, nonce: str, **changes: Any) -> dict[str, Any]:
        """Good ID token claims for a sign-in; ``None`` values remove a claim."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "00u-ada",
            "iat": now - 5,
            "exp": now + 300,
            "nonce": nonce,
            "email": "ada@acme.test",
            "email_verified": True,
            "name": "Ada Lovelace",
            "groups": ["Engineering"],
        }
        payload.update(changes)
        return {k: v for k, v in payload.items() if v is not None}

    def sign(
        self,
        payload: dict[str, Any],
        *,
        alg: str = "RS256",
        kid: str | None = "rsa-1",
        key: Any = None,
    ) -> str:
        headers = {"kid": kid} if kid is not None else {}
        if key is None:
            key = ec_key() if alg.startswith("ES") else rsa_key()
        token = jwt.encode(payload, key, algorithm=alg, headers=headers)
        if kid is None:
            # PyJWT adds nothing else, but be explicit that there is no kid.
            assert "kid" not in jwt.get_unverified_header(token)
        return token

    @staticmethod
    def unsigned(payload: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        body = b64url(json.dumps(payload).encode())
        return f"{header}.{body}."

    def id_token(self, nonce: str, **changes: Any) -> str:
        return self.sign(self.claims(nonce, **changes))

    # ------------------------------------------------------------ inspection

    def seen(self, path: str) -> list[SeenRequest]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def count(self, path: str) -> int:
        return len(self.seen(path))

    # ------------------------------------------------------------ answers

    def answer(self, request: SeenRequest) -> Reply:
        if request.path == urlsplit(self.issuer).path.rstrip("/") + (
            "/.well-known/openid-configuration"
        ):
            return Reply.json(self.metadata)
        if request.path == self.jwks_path:
            return Reply.json({"keys": self.jwks_keys})
        if request.path == "/token" and request.method == "POST":
            if self.token_reply is not None:
                return self.token_reply(request)
            if self.next_id_token is None:
                return Reply.json({"error": "invalid_grant"}, status=400)
            return Reply.json(
                {
                    "access_token": "fake-access-token",
                    "token_type": "Bearer",
                    "id_token": self.next_id_token,
                }
            )
        if request.path == "/userinfo":
            return Reply.json(self.userinfo)
        return Reply(status=404, content_type="text/plain", body=b"not found")


def _handler_for(fake: FakeIdP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            seen = SeenRequest(
                method=self.command,
                path=parts.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                form=form,
            )
            with fake.lock:
                fake.requests.append(seen)
            reply = fake.answer(seen)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (timeout tests)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
