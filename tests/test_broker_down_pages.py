"""Every page that queues work, while the broker refuses (issue 16, items 2, 3
and 9): an answer, never a 500, that says what happened; the rows that say what
is due are kept; the emails go out once the broker is back.

The broker is ``broker_down`` (tests/conftest.py): each publish fails as a
closed port makes it fail. tests/test_frozen_broker.py clicks the same pages
through the real Celery client against a closed and a frozen port.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from connections.models import ConnectionCheck
from connections.services.connections import connection_create
from domains.models import Domain
from invitations.models import Invitation
from organizations.mail import emails_flush
from organizations.models import AuditEvent, OutboundEmail
from rolemapping.models import Membership
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

NOT_QUEUED = (
    "could not be queued: the task queue (broker) is not reachable. Try again "
    "when it is back."
)
INVITE_LINK = re.compile(r"http://testserver(/invitations/[A-Za-z0-9_-]+/)")


def text(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def outbox_rows() -> list[tuple[str, str]]:
    return sorted(OutboundEmail.objects.values_list("kind", "status"))


def broker_back_and_flush(broker) -> int:
    """The broker returns; a minute later the beat's flush runs."""
    broker.back()
    past = timezone.now() - timedelta(minutes=2)
    OutboundEmail.objects.filter(status="pending").update(
        created_at=past, next_attempt_at=past
    )
    return emails_flush()


def test_inviting_says_the_emails_wait_and_they_go_out_when_the_broker_is_back(
    owner_client, org, broker_down
):
    response = owner_client.post(
        reverse("invitation_list", args=["acme"]),
        {"emails": "ann@acme.test\nbob@acme.test", "role": "member"},
    )
    assert response.status_code == 200
    assert (
        "Invited 2 people; the emails are queued and will be sent when the mail "
        "queue is back." in text(response)
    )
    # The invitations, their audit rows and their emails are all kept.
    assert Invitation.objects.count() == 2
    assert AuditEvent.objects.filter(action="invitation.created").count() == 2
    assert outbox_rows() == [("invitation", "pending")] * 2
    assert mail.outbox == []

    assert broker_back_and_flush(broker_down) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@acme.test", "bob@acme.test"]
    assert outbox_rows() == [("invitation", "sent")] * 2
    assert set(Invitation.objects.values_list("send_count", flat=True)) == {1}
    # The links work.
    link = INVITE_LINK.search(mail.outbox[0].body).group(1)
    assert owner_client.get(link).status_code == 200


def test_with_the_broker_up_the_page_says_nothing_of_a_queue(owner_client, org):
    response = owner_client.post(
        reverse("invitation_list", args=["acme"]),
        {"emails": "ann@acme.test", "role": "member"},
    )
    assert response.status_code == 200
    assert "mail queue" not in text(response)
    assert len(mail.outbox) == 1


def test_resending_says_the_new_link_waits(owner_client, org, broker_down):
    owner_client.post(
        reverse("invitation_list", args=["acme"]),
        {"emails": "ann@acme.test", "role": "member"},
    )
    invitation = Invitation.objects.get()
    response = owner_client.post(
        reverse("invitation_resend", args=["acme", invitation.pk]), follow=True
    )
    assert response.status_code == 200
    assert (
        "A new invitation link for ann@acme.test is queued and will be sent when "
        "the mail queue is back" in text(response)
    )
    # Only the newest link is still to be sent.
    assert outbox_rows() == [("invitation", "cancelled"), ("invitation", "pending")]
    assert broker_back_and_flush(broker_down) == 1
    (message,) = mail.outbox
    token = INVITE_LINK.search(message.body).group(1).split("/")[2]
    from invitations.services import token_hash

    assert Invitation.objects.get().token_hash == token_hash(token)


def test_a_check_the_broker_refused_has_failed_and_the_page_says_so(
    owner_client, org, broker_down
):
    connection = connection_create(
        actor_membership=Membership.objects.get(organization=org, user=org.owner),
        name="Okta",
        issuer_url="https://acme.okta.test",
        client_id="cid",
        client_secret="s3cret",
    )
    url = reverse("connection_test", args=["acme", connection.pk])
    response = owner_client.post(url, follow=True)
    assert response.status_code == 200
    assert f"The check {NOT_QUEUED}" in text(response)
    check = ConnectionCheck.objects.get()
    assert check.status == "failed" and check.finished_at is not None
    assert check.result["code"] == "task_queue_unreachable"
    assert "the task queue (broker) is not reachable" in check.steps[0]["detail"]
    assert AuditEvent.objects.filter(action="connection.check_failed").exists()

    answer = owner_client.post(url, HTTP_ACCEPT="application/json")
    assert answer.status_code == 503
    body = answer.json()
    assert (body["status"], body["code"]) == ("failed", "task_queue_unreachable")
    assert NOT_QUEUED in body["error"]
    assert body["status"] != "queued"


def test_a_domain_check_the_broker_refused_says_so(owner_client, org, broker_down):
    domain = Domain.objects.create(organization=org, name="acme.test", token="t")
    url = reverse("domain_verify", args=["acme", domain.pk])
    response = owner_client.post(url, follow=True)
    assert response.status_code == 200
    assert f"The check of acme.test {NOT_QUEUED}" in text(response)
    domain.refresh_from_db()
    assert domain.check_requested_at is None  # not "checking" forever
    assert NOT_QUEUED in domain.detail

    answer = owner_client.post(url, HTTP_ACCEPT="application/json")
    assert answer.status_code == 503
    assert answer.json()["code"] == "task_queue_unreachable"
    assert answer.json()["status"] == "pending"


def test_a_new_confirmation_link_waits_and_the_page_says_so(client, broker_down):
    user = make_user("founder@acme.test", proven=False)
    client.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    response = client.post(reverse("email_proof_resend"), follow=True)
    assert response.status_code == 200
    assert (
        "A new link to founder@acme.test is queued and will be sent when the mail "
        "queue is back" in text(response)
    )
    assert outbox_rows() == [("email_proof", "pending")]
    assert broker_back_and_flush(broker_down) == 1
    assert "/accounts/email/confirm/" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="user.email_proof_sent").count() == 1


def test_sign_up_answers_as_usual_and_its_email_waits(client, broker_down):
    response = client.post(
        reverse("signup"),
        {
            "email": "founder@acme.test",
            "password1": "a-long-and-unusual-passphrase",
            "password2": "a-long-and-unusual-passphrase",
            "org_name": "Acme Inc",
            "login_path": "acme",
        },
    )
    # The same answer whether or not the address had an account, queue or not.
    assert response.status_code == 302
    assert response["Location"] == reverse("signup_sent")
    assert outbox_rows() == [("signup_link", "pending")]
    assert broker_back_and_flush(broker_down) == 1
    assert mail.outbox[0].to == ["founder@acme.test"]


def test_a_password_reset_answers_the_same_and_its_email_waits(client, broker_down):
    make_user("forgetful@acme.test")
    pages = []
    for address in ("forgetful@acme.test", "nobody@acme.test"):
        response = client.post(
            reverse("password_reset"), {"email": address}, follow=True
        )
        assert response.status_code == 200
        pages.append(text(response))
    # Nothing tells whether the address has an account, outage or not.
    assert pages[0] == pages[1]
    assert "will be sent" in pages[0]
    assert outbox_rows() == [("password_reset", "pending")]

    assert broker_back_and_flush(broker_down) == 1
    (message,) = mail.outbox
    assert message.to == ["forgetful@acme.test"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body)
    assert client.get(link.group(1), follow=True).status_code == 200
