"""Back-channel logout driven by the real OpenID Provider (oidc-provider).

The console runs as a live HTTP server so that the IdP can POST its logout
token to /sso/backchannel-logout/ itself: a person signs in through the IdP
(the ID token carries the IdP session's `sid`, recorded with the session),
their IdP session ends at the IdP, the IdP calls the back-channel logout URI,
and the person's next request here is anonymous.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.models import SessionRecord
from organizations.models import AuditEvent

from .helpers import make_connection, signed_in_user_id, start_login

pytestmark = pytest.mark.django_db

CLIENT_ID = "console-okta-app"
CLIENT_SECRET = "okta-app-secret-1"
CALLBACK = "http://testserver/sso/callback/"


@pytest.fixture
def backchannel_uri(live_server, settings) -> str:
    settings.ALLOWED_HOSTS = [
        *settings.ALLOWED_HOSTS,
        urlsplit(live_server.url).hostname,
    ]
    return f"{live_server.url}/sso/backchannel-logout/"


def signed_in(client: Client) -> bool:
    return (
        client.get("/accounts/me/", HTTP_ACCEPT="application/json").status_code == 200
    )


def okta_with_backchannel(idp, uri: str, *, session_required: bool = True):
    idp.add_client(
        CLIENT_ID,
        CLIENT_SECRET,
        [CALLBACK],
        backchannel_logout_uri=uri,
        backchannel_logout_session_required=session_required,
    )
    idp.add_account("00u-ada", "ada@acme.test", groups=["Engineering"], name="Ada")
    return idp


def sign_in_through(idp, client: Client, browser) -> None:
    request = start_login(client)
    assert client.get(idp.login(browser, request["_url"], "ada@acme.test")).status_code
    assert signed_in_user_id(client) is not None


def end_idp_session(idp, browser) -> None:
    """Sign out at the IdP itself (its own sign-out page, not the console's)."""
    idp.logout(browser, idp.metadata["end_session_endpoint"])
    assert not idp.sessions()


def test_signing_out_at_the_idp_ends_the_session_here(
    backchannel_uri, acme, clean_oidc_idp
):
    idp = okta_with_backchannel(clean_oidc_idp, backchannel_uri)
    assert idp.metadata["backchannel_logout_session_supported"] is True
    make_connection(
        acme, issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    client, browser = Client(), idp.http_session()
    sign_in_through(idp, client, browser)
    (idp_session,) = idp.sessions()
    sid = idp_session["clients"][CLIENT_ID]["sid"]
    assert SessionRecord.objects.get().idp_sid == sid

    end_idp_session(idp, browser)

    assert idp.backchannel_logouts() == [
        {"client_id": CLIENT_ID, "sid": sid, "ok": True}
    ]
    assert not signed_in(client)
    assert not SessionRecord.objects.exists()
    event = AuditEvent.objects.get(action="sso.backchannel_logout")
    assert (event.details["by"], event.details["sessions_ended"]) == ("sid", 1)


def test_without_sid_the_idp_logout_ends_the_persons_sessions(
    backchannel_uri, acme, clean_oidc_idp
):
    idp = okta_with_backchannel(clean_oidc_idp, backchannel_uri, session_required=False)
    make_connection(
        acme, issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    laptop, phone = Client(), Client()
    laptop_browser = idp.http_session()
    sign_in_through(idp, laptop, laptop_browser)
    sign_in_through(idp, phone, idp.http_session())
    assert SessionRecord.objects.filter(idp_sid="").count() == 2

    idp.logout(laptop_browser, idp.metadata["end_session_endpoint"])

    (sent,) = idp.backchannel_logouts()
    assert sent["ok"] is True
    # By sub: every session of the person here, the phone's too.
    assert not signed_in(laptop) and not signed_in(phone)
    event = AuditEvent.objects.get(action="sso.backchannel_logout")
    assert (event.details["by"], event.details["sessions_ended"]) == ("sub", 2)


def test_the_idp_is_told_when_the_console_refuses(
    backchannel_uri, acme, clean_oidc_idp
):
    idp = okta_with_backchannel(clean_oidc_idp, backchannel_uri)
    connection = make_connection(
        acme, issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    client, browser = Client(), idp.http_session()
    sign_in_through(idp, client, browser)
    # No live connection has that issuer any more: the token is refused.
    connection.live = None
    connection.save(update_fields=["live"])

    end_idp_session(idp, browser)

    (sent,) = idp.backchannel_logouts()
    assert sent["ok"] is False
    assert "400" in sent["error"]
