"""Client secret expiry: reminders 30, 7 and 1 days before, once each; the
console's warnings; a second secret tested in a draft before it replaces the
first."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from connections.models import ConnectionConfig, SecretExpiryReminder
from connections.services.connections import (
    PublishBlocked,
    connection_draft_tested,
    connection_publish,
    connection_update,
)
from connections.services.secret_expiry import (
    EXPIRY_EMAIL_KIND,
    secret_expiry_reminders_send,
    secret_expiry_still_wanted,
)
from organizations.models import OutboundEmail
from tests.connections.conftest import (
    SECRET,
    make_connection,
    make_ready,
    passed_check,
)

TODAY = date(2030, 3, 1)


def _live(owner_membership, expires_on: date | None, **fields):
    connection = make_connection(
        owner_membership,
        "https://acme.okta.com",
        client_secret_expires_on=expires_on,
        **fields,
    )
    connection.live = connection.draft
    connection.save(update_fields=["live"])
    return connection


def _reminders() -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(kind=EXPIRY_EMAIL_KIND).order_by("id"))


def _on(day: date) -> int:
    return secret_expiry_reminders_send(today=day)


def test_the_owner_is_reminded_30_7_and_1_days_before_each_once(
    owner_membership, django_capture_on_commit_callbacks
):
    expires = TODAY + timedelta(days=30)
    _live(owner_membership, expires)

    with django_capture_on_commit_callbacks(execute=True):
        assert _on(TODAY) == 1
    assert _on(TODAY) == 0  # the same day again: nothing
    assert _on(TODAY + timedelta(days=1)) == 0  # 29 days: nothing new
    assert _on(expires - timedelta(days=7)) == 1
    assert _on(expires - timedelta(days=6)) == 0
    assert _on(expires - timedelta(days=1)) == 1
    assert _on(expires) == 0
    assert _on(expires + timedelta(days=1)) == 0  # expired: no more reminders

    emails = _reminders()
    assert [e.ref["days_before"] for e in emails] == [30, 7, 1]
    assert {e.to for e in emails} == {owner_membership.user.email}
    assert "expires in 30 days" in emails[0].subject
    assert "expires in 1 day" in emails[2].subject
    sent = mail.outbox[0]
    assert "2030-03-31" in sent.body
    assert "Edit draft" in sent.body
    assert SECRET not in sent.body
    assert SecretExpiryReminder.objects.count() == 3


def test_a_date_given_late_gets_the_nearest_reminder_only(owner_membership):
    _live(owner_membership, TODAY + timedelta(days=5))
    assert _on(TODAY) == 1
    assert _on(TODAY + timedelta(days=1)) == 0
    assert [e.ref["days_before"] for e in _reminders()] == [7]


def test_no_reminder_without_a_date_or_far_from_it(owner_membership):
    _live(owner_membership, None)
    _live(owner_membership, TODAY + timedelta(days=90), name="Far")
    assert _on(TODAY) == 0


def test_a_replaced_secrets_pending_reminder_is_not_sent(owner_membership):
    connection = _live(owner_membership, TODAY + timedelta(days=7))
    assert _on(TODAY) == 1
    row = _reminders()[0]
    assert secret_expiry_still_wanted(row)
    # A new secret was tested and published meanwhile.
    connection_update(
        actor_membership=owner_membership,
        connection=connection,
        name=connection.name,
        issuer_url=connection.draft.issuer_url,
        client_id=connection.draft.client_id,
        client_secret="the-second-secret",
    )
    connection.refresh_from_db()
    connection.live = connection.draft
    connection.save(update_fields=["live"])
    assert not secret_expiry_still_wanted(row)


def test_the_connection_page_and_overview_warn_within_30_days(owner_membership, client):
    soon = timezone.localdate() + timedelta(days=10)
    connection = _live(owner_membership, soon)
    _live(owner_membership, timezone.localdate() + timedelta(days=200), name="Far")
    client.force_login(owner_membership.user)

    page = client.get(f"/orgs/acme/connections/{connection.pk}/").content.decode()
    assert 'data-secret-expiry="10"' in page
    assert soon.isoformat() in page
    assert "the check tests it while the current secret keeps signing" in page

    overview = client.get("/orgs/acme/").content.decode()
    assert "Client secrets expiring" in overview
    assert f"expires on {soon.isoformat()}, in 10 days" in overview
    assert "Far" not in overview.split("Client secrets expiring")[1].split("</ul>")[0]


def test_an_expired_secret_says_so(owner_membership, client):
    connection = _live(owner_membership, timezone.localdate() - timedelta(days=2))
    client.force_login(owner_membership.user)
    page = client.get(f"/orgs/acme/connections/{connection.pk}/").content.decode()
    assert "expired on" in page


def test_a_second_secret_goes_into_a_draft_that_must_pass_before_it_replaces(
    org, owner_membership
):
    connection = _live(owner_membership, TODAY + timedelta(days=7))
    live_id = connection.live_id
    connection_update(
        actor_membership=owner_membership,
        connection=connection,
        name=connection.name,
        issuer_url=connection.draft.issuer_url,
        client_id=connection.draft.client_id,
        client_secret="the-second-secret",
        client_secret_expires_on="2032-03-01",
    )
    connection.refresh_from_db()
    # Sign-in keeps the first secret until the new draft is tested and published.
    assert connection.live_id == live_id
    assert connection.live.client_secret == SECRET
    assert connection.draft.client_secret == "the-second-secret"
    assert connection.draft.client_secret_expires_on == date(2032, 3, 1)
    make_ready(org, connection, owner_membership.user)
    with pytest.raises(PublishBlocked) as blocked:
        connection_publish(
            actor_membership=owner_membership,
            connection=connection,
            confirm=org.login_path,
        )
    assert "draft_not_tested" in blocked.value.reasons
    passed_check(connection)
    connection_publish(
        actor_membership=owner_membership, connection=connection, confirm="acme"
    )
    connection.refresh_from_db()
    assert connection.live.client_secret == "the-second-secret"


def test_changing_only_the_expiry_date_needs_no_new_check(owner_membership):
    connection = _live(owner_membership, None)
    passed_check(connection)
    draft_id = connection.draft_id
    connection_update(
        actor_membership=owner_membership,
        connection=connection,
        name=connection.name,
        issuer_url=connection.draft.issuer_url,
        client_id=connection.draft.client_id,
        scopes=connection.draft.scopes,
        client_secret_expires_on="2031-01-31",
    )
    connection.refresh_from_db()
    assert connection.draft_id == draft_id
    assert ConnectionConfig.objects.get(pk=draft_id).client_secret_expires_on == (
        date(2031, 1, 31)
    )
    assert connection_draft_tested(connection)


def test_a_bad_expiry_date_is_a_sentence(owner_membership, client):
    client.force_login(owner_membership.user)
    response = client.post(
        "/orgs/acme/connections/new/",
        {
            "name": "Entra",
            "issuer_url": "https://login.example.com",
            "client_id": "abc",
            "client_secret": "s",
            "client_secret_expires_on": "next tuesday",
        },
    )
    assert response.status_code == 400
    assert "valid date" in response.content.decode()
