"""``make demo``: the console with the test suite's OpenID Provider and DNS
server, on loopback, with a seeded organization, so the whole journey (verify
a domain, check, test sign-in, publish, members signing in) runs without an
Okta account.

Three parts, all bound to 127.0.0.1:

* the DNS server of ``tests/fixtures/dns.py`` (dnslib), in this process: it
  serves the demo domain's verification TXT record;
* the OpenID Provider of ``tests/idp/server.mjs`` (Node, oidc-provider),
  started by ``tests/fixtures/idp.py``'s ``start_idp``, with the console's app
  and the demo people registered through its control API;
* the console: ``manage.py migrate``, ``demo/seed.py`` and ``runserver``, as
  subprocesses with the demo's environment, on a fresh SQLite database in a
  temporary directory (thrown away at the end).

The console runs with ``DEBUG`` and lets its fetches reach http:// and
loopback addresses (``SSO_ALLOW_INSECURE_ISSUERS``,
``SSO_ALLOW_PRIVATE_NETWORKS``), in this environment only: the IdP is on
127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "sso-console-demo"
CLIENT_SECRET = "demo-client-secret-not-for-production"
IDP_PASSWORD = "demo"
# (sub, email, groups, name): the people at the demo IdP.
PEOPLE = (
    ("00u-owner", "owner@demo.test", ["admins"], "Olivia Owner"),
    ("00u-alice", "alice@demo.test", ["engineering"], "Alice"),
    ("00u-bob", "bob@demo.test", ["admins"], "Bob"),
    ("00u-it", "it@demo.test", ["it"], "Ivan IT"),
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, deadline: float, process: subprocess.Popen[bytes]) -> None:
    """Until ``url`` answers (any status below 500), or fail."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The console exited (status {process.returncode}).")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"The console did not answer at {url} in time.")


@dataclass
class DemoStack:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``with``)."""

    port: int = 8000
    workdir: Path | None = None
    quiet: bool = False
    site_url: str = ""
    issuer: str = ""
    nameserver: str = ""
    seeded: dict[str, Any] = field(default_factory=dict)
    # The IdP's control client (tests/fixtures/idp.py's IdP).
    idp: Any = None
    _dns: Any = None
    _idp_process: subprocess.Popen[bytes] | None = None
    _console: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> DemoStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self, database_url: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "True",
            "SITE_URL": self.site_url,
            "DATABASE_URL": database_url,
            "DNS_NAMESERVERS": self.nameserver,
            "SSO_ALLOW_INSECURE_ISSUERS": "True",
            "SSO_ALLOW_PRIVATE_NETWORKS": "True",
            "EMAIL_URL": "consolemail://",
            "DEFAULT_FROM_EMAIL": "sso-console@demo.test",
            "PYTHONUNBUFFERED": "1",
        }
        # The demo is self-contained: no broker (tasks run in-process), local
        # cache, whatever this shell has set for other work.
        for name in ("CELERY_BROKER_URL", "CACHE_URL", "SESSION_ENGINE"):
            env.pop(name, None)
        return env

    def start(self, timeout: float = 90.0) -> None:
        from tests.fixtures.dns import DnsTestServer
        from tests.fixtures.idp import start_idp

        deadline = time.monotonic() + timeout
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sso-demo-")
            self.workdir = Path(self._tmp.name)
        self.site_url = f"http://127.0.0.1:{self.port}"
        self._dns = DnsTestServer()
        self._dns.start()
        self.nameserver = self._dns.nameserver
        idp, self._idp_process = start_idp(self.workdir)
        self.idp, self.issuer = idp, idp.issuer
        idp.add_client(
            CLIENT_ID,
            CLIENT_SECRET,
            [f"{self.site_url}/sso/callback/"],
            post_logout_redirect_uris=[f"{self.site_url}/sso/logged-out/"],
        )
        for sub, email, groups, name in PEOPLE:
            idp.add_account(sub, email, groups=groups, name=name, password=IDP_PASSWORD)
        env = self.environment(f"sqlite:///{self.workdir / 'demo.sqlite3'}")
        output = None if not self.quiet else subprocess.DEVNULL
        python = sys.executable
        subprocess.run(  # noqa: S603  (our own interpreter and scripts)
            [python, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=output,
            timeout=max(5.0, deadline - time.monotonic()),
        )
        seeded = subprocess.run(  # noqa: S603
            [python, "-m", "demo.seed"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=max(5.0, deadline - time.monotonic()),
        )
        self.seeded = json.loads(seeded.stdout.strip().splitlines()[-1])
        self._dns.set_txt(self.seeded["txt_name"], self.seeded["txt_value"])
        self._console = subprocess.Popen(  # noqa: S603
            [
                python,
                "manage.py",
                "runserver",
                "--noreload",
                f"127.0.0.1:{self.port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=output,
        )
        _wait_for(f"{self.site_url}/login/", deadline, self._console)

    def stop(self) -> None:
        if self._console is not None and self._console.poll() is None:
            self._console.terminate()
            try:
                self._console.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._console.kill()
                self._console.wait(timeout=5)
        if self._idp_process is not None:
            from tests.fixtures.idp import _stop

            _stop(self._idp_process)
        if self._dns is not None:
            self._dns.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def summary(self) -> str:
        s = self.seeded
        people = "\n".join(
            f"    {email:<18} groups: {', '.join(groups) or '-'}"
            for _sub, email, groups, _name in PEOPLE
        )
        return f"""
The SSO console demo is running (Ctrl-C stops everything; its data goes with it).

  Console           {self.site_url}/login/
                    owner: owner@demo.test / password {_owner_password()}
  OpenID Provider   {self.issuer}  (a local oidc-provider, like Okta)
                    client ID      {CLIENT_ID}
                    client secret  {CLIENT_SECRET}
  DNS server        {self.nameserver} serves {s["txt_name"]} TXT "{s["txt_value"]}"

People at the IdP (password "{IDP_PASSWORD}" for each):
{people}
Group mappings: admins -> admin, engineering -> member.

Try it:
  1. Sign in as the owner. Domains: "Verify" {s["domain"]} (the record is served).
  2. Connections > Add: issuer {self.issuer}, the client ID and secret above.
     Or let your "IT admin" do it: open this setup link in another browser:
     {s["setup_url"]}
  3. Test the configuration, then "Test sign-in" as owner@demo.test.
  4. Publish (type "{s["login_path"]}"), then sign in at {self.site_url}/login/
     as alice@demo.test or bob@demo.test in a private window.
Emails (invitations) are printed here.
"""


def _owner_password() -> str:
    from demo.seed import OWNER_PASSWORD

    return OWNER_PASSWORD


def main() -> None:
    port = int(os.environ.get("DEMO_PORT", "8000"))
    stack = DemoStack(port=port)
    try:
        stack.start()
        print(stack.summary(), flush=True)  # noqa: T201
        assert stack._console is not None
        stack._console.wait()
    except KeyboardInterrupt:
        print("\nStopping the demo…", flush=True)  # noqa: T201
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
