"""The invitation email: its content, and a real delivery over SMTP."""

import email
from email import policy

import pytest
from django.core import mail

from accounts.models import User
from invitations.models import Invitation
from invitations.services import invitation_email_send, token_hash
from invitations.tasks import invitation_send
from organizations.crypto import decrypt_secret, encrypt_secret
from organizations.models import AuditEvent

from .conftest import LINK_RE, tokens_in_outbox


@pytest.fixture
def named_owner(org):
    User.objects.filter(pk=org.owner_id).update(name="Olivia Owner")
    org.owner.refresh_from_db()
    return org.owner


def test_the_email_has_text_and_html_with_everything_the_invitee_needs(
    org, invite, named_owner
):
    invite("dev@acme.test", role="admin")

    (message,) = mail.outbox
    invitation = Invitation.objects.get(email="dev@acme.test")
    (token,) = tokens_in_outbox("dev@acme.test")
    link = f"http://testserver/invitations/{token}/"
    expiry = invitation.expires_at.strftime("%-d %B %Y, %H:%M")

    assert message.to == ["dev@acme.test"]
    assert "Olivia Owner" in message.subject and "Acme Inc" in message.subject
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    for body in (message.body, html):
        assert "Acme Inc" in body
        assert "Olivia Owner (owner-acme@example.test)" in body
        assert "Admin" in body
        assert expiry in body
        assert link in body
    assert f'href="{link}"' in html
    assert token_hash(token) == invitation.token_hash
    assert len(token) >= 43  # 32 random bytes, base64url

    invitation.refresh_from_db()
    assert invitation.send_count == 1 and invitation.last_sent_at is not None
    assert AuditEvent.objects.filter(action="invitation.email_sent").count() == 1


def test_html_in_names_is_escaped_in_the_html_body(org, invite):
    org.name = "<b>Acme</b>"
    org.save()
    invite("dev@acme.test")
    html = mail.outbox[0].alternatives[0][0]
    assert "<b>Acme</b>" not in html and "&lt;b&gt;Acme&lt;/b&gt;" in html
    assert "<b>Acme</b>" in mail.outbox[0].body


def test_a_line_break_in_the_org_name_cannot_inject_headers(org, invite):
    org.name = "Acme\nBcc: victim@evil.test"
    org.save()
    invite("dev@acme.test")
    (message,) = mail.outbox
    assert "\n" not in message.subject
    assert message.bcc == []


def test_no_email_goes_out_for_a_link_replaced_before_the_task_ran(org, issue):
    invitation, old_token = issue(org, "dev@acme.test")
    Invitation.objects.filter(pk=invitation.pk).update(token_hash="f" * 64)
    sent = invitation_email_send(
        invitation_id=invitation.pk, sealed_token=encrypt_secret(old_token)
    )
    assert sent is False and mail.outbox == []


def test_the_task_exits_quietly_when_the_invitation_is_gone(org, issue):
    invitation, token = issue(org, "dev@acme.test")
    pk = invitation.pk
    invitation.delete()
    assert invitation_send.apply(args=[pk, encrypt_secret(token)]).get() is False
    assert mail.outbox == []


def test_the_broker_never_sees_the_token(org, owner_membership, monkeypatch):
    from invitations import services as service
    from invitations import tasks

    queued = []
    monkeypatch.setattr(tasks.invitation_send, "delay", lambda *a: queued.append(a))
    monkeypatch.setattr(service.transaction, "on_commit", lambda fn: fn())
    service.invitations_create(
        actor_membership=owner_membership, emails="dev@acme.test", role_slug="member"
    )
    ((invitation_id, sealed),) = queued
    invitation = Invitation.objects.get()
    token = decrypt_secret(sealed)
    assert invitation_id == invitation.pk
    assert token_hash(token) == invitation.token_hash
    assert token not in sealed


def test_a_real_smtp_delivery_through_the_email_url_settings(org, invite, smtp_server):
    invite("dev@acme.test, ops@acme.test", role="viewer")

    assert len(smtp_server.messages) == 2
    envelope = next(m for m in smtp_server.messages if m.rcpt_tos == ["dev@acme.test"])
    assert envelope.mail_from == "sso-console@localhost"
    parsed = email.message_from_bytes(envelope.content, policy=policy.default)
    assert "Acme Inc" in parsed["Subject"]
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    html = parsed.get_body(preferencelist=("html",)).get_content()
    token = LINK_RE.search(text).group(1)
    assert f"http://testserver/invitations/{token}/" in html
    assert "Viewer" in text
    invitation = Invitation.objects.get(email="dev@acme.test")
    assert invitation.token_hash == token_hash(token)
    assert invitation.send_count == 1


def test_a_temporary_smtp_refusal_is_retried(org, invite, smtp_server):
    smtp_server.refuse_next = 1
    invite("dev@acme.test")
    assert [m.rcpt_tos for m in smtp_server.messages] == [["dev@acme.test"]]
    assert Invitation.objects.get().send_count == 1


def test_the_send_task_declares_retries_with_backoff_and_time_limits():
    assert invitation_send.name == "invitations.tasks.invitation_send"
    assert invitation_send.max_retries >= 3
    assert invitation_send.retry_backoff
    assert invitation_send.soft_time_limit <= invitation_send.time_limit
