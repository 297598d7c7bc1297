"""Fixtures for the invitation tests: issued invitations, a live connection and a
real SMTP server on loopback."""

from __future__ import annotations

import re
import secrets
import socket
from dataclasses import dataclass, field
from datetime import timedelta

import environ
import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.utils import timezone

from connections.models import Connection, ConnectionConfig
from invitations.models import Invitation
from invitations.services import invitations_create, token_hash
from organizations.crypto import encrypt_secret
from rolemapping.models import Membership, Role

LINK_RE = re.compile(r"http://testserver/invitations/([A-Za-z0-9_-]+)/")


@pytest.fixture
def owner_membership(org):
    return Membership.objects.select_related("role", "organization", "user").get(
        organization=org, user=org.owner
    )


@pytest.fixture
def issue():
    """Create an open invitation directly; returns (invitation, token)."""

    def make(org, email, role="member", *, expires_in=timedelta(days=7), **fields):
        token = secrets.token_urlsafe(32)
        invitation = Invitation.objects.create(
            organization=org,
            email=email,
            role=Role.objects.get(organization=org, slug=role),
            token_hash=token_hash(token),
            invited_by=org.owner,
            expires_at=timezone.now() + expires_in,
            **fields,
        )
        return invitation, token

    return make


@pytest.fixture
def invite(owner_membership, django_capture_on_commit_callbacks):
    """Invite through the service, running the email task; returns the report."""

    def run(emails, role="member", actor=None):
        with django_capture_on_commit_callbacks(execute=True):
            return invitations_create(
                actor_membership=actor or owner_membership,
                emails=emails,
                role_slug=role,
            )

    return run


def tokens_in_outbox(to: str) -> list[str]:
    """The invitation tokens mailed to one address, oldest first."""
    tokens = []
    for message in mail.outbox:
        if message.to == [to]:
            link = LINK_RE.search(str(message.body))
            assert link is not None, f"no invitation link in: {message.body}"
            tokens.append(link.group(1))
    return tokens


@pytest.fixture
def live_connection(org):
    """Make the organization's SSO live (a published connection)."""
    connection = Connection.objects.create(organization=org, name="Okta")
    config = ConnectionConfig.objects.create(
        connection=connection,
        issuer_url="https://acme.okta.test",
        client_id="cid",
        client_secret_encrypted=encrypt_secret("s3cret"),
    )
    Connection.objects.filter(pk=connection.pk).update(
        draft=config, live=config, published_at=timezone.now()
    )
    return connection


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives; can refuse N messages."""

    messages: list = field(default_factory=list)
    refuse_next: int = 0
    port: int = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (API)
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 Try again later"
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback, and the settings an EMAIL_URL pointing at
    it produces (EMAIL_URL itself is read once, at start-up)."""
    inbox = Inbox(port=_free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        config = environ.Env.email_url_config(f"smtp://127.0.0.1:{inbox.port}")
        for name, value in config.items():
            setattr(settings, name, value)
        settings.EMAIL_TIMEOUT = 5
        yield inbox
    finally:
        controller.stop()
