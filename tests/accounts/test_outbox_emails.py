"""Accounts' emails go through the outbox (issue 16, item 2): decided at send
time, and messages queued by the tasks of before still lead to an email."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from accounts.tasks import email_proof_send, signup_notice_send
from organizations.crypto import decrypt_secret
from organizations.models import OutboundEmail
from tests.factories import make_user

from .helpers import CONFIRM_LINK

pytestmark = pytest.mark.django_db


def test_the_confirmation_link_is_kept_encrypted_until_sent(founder):
    row = OutboundEmail.objects.get(kind="email_proof")
    assert row.status == "sent" and row.body_sealed == ""
    assert row.ref["user_id"] == founder.pk
    assert "@" not in row.ref["address"]  # a digest, not the address


def test_a_link_proven_meanwhile_is_not_mailed(
    client, committed, django_capture_on_commit_callbacks
):
    user = make_user("founder@acme.test", proven=False)
    client.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        client.post("/accounts/email/resend/")
    row = OutboundEmail.objects.get()
    assert CONFIRM_LINK.search(decrypt_secret(row.body_sealed))
    User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
    with committed():
        for publish in queued:
            publish()
    row.refresh_from_db()
    assert (row.status, row.body_sealed) == ("cancelled", "")
    assert mail.outbox == []


def test_old_task_messages_still_lead_to_emails(committed):
    unproven = make_user("new@acme.test", proven=False)
    known = make_user("known@acme.test")
    with committed():
        assert email_proof_send.apply(args=[unproven.pk]).get() is True
        assert signup_notice_send.apply(args=[known.pk]).get() is True
        assert email_proof_send.apply(args=[known.pk]).get() is False  # proven
    assert sorted(OutboundEmail.objects.values_list("kind", "to", "status")) == [
        ("email_proof", "new@acme.test", "sent"),
        ("signup_notice", "known@acme.test", "sent"),
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["known@acme.test", "new@acme.test"]
