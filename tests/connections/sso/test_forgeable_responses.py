"""Responses anyone can send never fill an organization's sign-in attempts.

From a security review: a state replayed from cookie-less clients wrote one
event per request, and an IdP error response (unsigned: its text is the
sender's) put any text into the owner's panel, as often as a sign-in could be
started. Both are now recorded once per client address (an IPv6 /64), reason
and minute, and at most PRE_IDP_RECORD_CAP times per organization a minute.
"""

from __future__ import annotations

import pytest
from django.test import Client

from connections.models import SignInEvent
from connections.services.sso import PRE_IDP_RECORD_CAP

from .helpers import callback, start_login

pytestmark = pytest.mark.django_db


def test_a_replayed_state_is_recorded_once_not_per_request(
    client, acme, acme_connection, fake_idp
):
    request = start_login(client)
    for _ in range(30):
        response = callback(Client(), fake_idp.issuer, request["state"])
        assert response.status_code == 400
    events = SignInEvent.objects.filter(organization=acme, step="state_unknown")
    assert events.count() == 1


def test_an_idp_error_response_is_recorded_once_and_labelled_unverified(
    client, acme, acme_connection, fake_idp
):
    for _ in range(5):
        request = start_login(client)
        response = callback(
            client,
            fake_idp.issuer,
            request["state"],
            code=None,
            error="server_error",
            error_description="Your IdP is compromised, call +1-555-0100 now",
        )
        assert response.status_code == 400
    (event,) = SignInEvent.objects.filter(organization=acme, step="idp_error")
    assert "may not come from the provider" in event.detail


def test_rotating_ipv6_addresses_within_a_64_records_once(acme):
    for number in range(50):
        Client(REMOTE_ADDR=f"2001:db8::{number:x}").get("/sso/login/acme/")
    assert SignInEvent.objects.filter(organization=acme, reached_idp=False).count() == 1


def test_no_organization_gets_more_than_the_cap_a_minute(acme):
    for number in range(PRE_IDP_RECORD_CAP + 20):
        Client(REMOTE_ADDR=f"198.51.100.{number}").get("/sso/login/acme/")
    recorded = SignInEvent.objects.filter(organization=acme, reached_idp=False)
    assert recorded.count() == PRE_IDP_RECORD_CAP


def test_an_echoed_authorization_header_never_reaches_the_event(
    client, acme, acme_connection, fake_idp
):
    from .fakeidp import Reply

    fake_idp.token_reply = lambda seen: Reply(
        401, "text/plain", f"rejected {seen.headers.get('authorization')}".encode()
    )
    request = start_login(client)
    callback(client, fake_idp.issuer, request["state"])
    credentials = fake_idp.seen("/token")[0].headers["authorization"].split()[1]
    event = SignInEvent.objects.get(organization=acme, step="token")
    assert credentials not in event.detail
    assert "[redacted]" in event.detail
