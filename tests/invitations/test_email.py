"""The invitation email: its content, the outbox it goes through, and a real
delivery over SMTP."""

import email
from email import policy

import pytest
from django.core import mail

from accounts.models import User
from invitations.models import Invitation
from invitations.services import token_hash
from invitations.tasks import invitation_send
from organizations.crypto import decrypt_secret, encrypt_secret
from organizations.mail import emails_flush
from organizations.models import AuditEvent, OutboundEmail
from organizations.tasks import outbox_send

from .conftest import LINK_RE, tokens_in_outbox


@pytest.fixture
def named_owner(org):
    User.objects.filter(pk=org.owner_id).update(name="Olivia Owner")
    org.owner.refresh_from_db()
    return org.owner


def test_the_email_has_text_and_html_with_everything_the_invitee_needs(
    org, named_owner, invite
):
    # named_owner first: the email is rendered from the inviter as the request
    # knows them.
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


def test_html_in_names_is_escaped_in_the_html_body(org, invite, owner_membership):
    org.name = "<b>Acme</b>"
    org.save()
    owner_membership.organization.refresh_from_db()  # as the next request reads it
    invite("dev@acme.test")
    html = mail.outbox[0].alternatives[0][0]
    assert "<b>Acme</b>" not in html and "&lt;b&gt;Acme&lt;/b&gt;" in html
    assert "<b>Acme</b>" in mail.outbox[0].body


def test_a_line_break_in_the_org_name_cannot_inject_headers(
    org, invite, owner_membership
):
    org.name = "Acme\nBcc: victim@evil.test"
    org.save()
    owner_membership.organization.refresh_from_db()
    invite("dev@acme.test")
    (message,) = mail.outbox
    assert "\n" not in message.subject and "Acme Bcc: victim" in message.subject
    assert message.bcc == []


def test_no_email_goes_out_for_a_link_replaced_before_it_was_sent(
    org, owner_membership, django_capture_on_commit_callbacks
):
    from invitations.services import invitations_create

    with django_capture_on_commit_callbacks(execute=False) as queued:
        invitations_create(
            actor_membership=owner_membership,
            emails="dev@acme.test",
            role_slug="member",
        )
    Invitation.objects.update(token_hash="f" * 64)
    for publish in queued:
        publish()
    assert mail.outbox == []
    row = OutboundEmail.objects.get()
    assert (row.status, row.body_sealed) == ("cancelled", "")


def test_a_revoked_invitation_is_not_mailed_by_a_late_flush(
    org, owner_membership, django_capture_on_commit_callbacks
):
    from invitations.services import invitation_revoke, invitations_create

    with django_capture_on_commit_callbacks(execute=False):  # the broker lost it
        invitations_create(
            actor_membership=owner_membership,
            emails="dev@acme.test",
            role_slug="member",
        )
    invitation_revoke(
        actor_membership=owner_membership, invitation=Invitation.objects.get()
    )
    OutboundEmail.objects.update(next_attempt_at="2000-01-01T00:00Z")
    assert emails_flush() == 1
    assert mail.outbox == []
    assert OutboundEmail.objects.get().status == "cancelled"


def test_a_resend_replaces_the_email_not_sent_yet(
    org, owner_membership, django_capture_on_commit_callbacks
):
    from invitations.services import invitation_resend, invitations_create

    with django_capture_on_commit_callbacks(execute=False):
        invitations_create(
            actor_membership=owner_membership,
            emails="dev@acme.test",
            role_slug="member",
        )
    with django_capture_on_commit_callbacks(execute=True):
        invitation_resend(
            actor_membership=owner_membership, invitation=Invitation.objects.get()
        )
    first, second = OutboundEmail.objects.order_by("pk")
    assert (first.status, first.body_sealed) == ("cancelled", "")
    assert second.status == "sent"
    (token,) = tokens_in_outbox("dev@acme.test")
    assert token_hash(token) == Invitation.objects.get().token_hash


def test_an_old_task_message_still_leads_to_an_email(
    org, issue, django_capture_on_commit_callbacks
):
    # Queued before the outbox existed: the task puts the email into it.
    invitation, token = issue(org, "dev@acme.test")
    with django_capture_on_commit_callbacks(execute=True):
        result = invitation_send.apply(args=[invitation.pk, encrypt_secret(token)])
    assert result.get() is True
    (sent,) = tokens_in_outbox("dev@acme.test")
    assert sent == token


def test_the_old_task_exits_quietly_when_the_invitation_is_gone(org, issue):
    invitation, token = issue(org, "dev@acme.test")
    pk = invitation.pk
    invitation.delete()
    assert invitation_send.apply(args=[pk, encrypt_secret(token)]).get() is False
    assert mail.outbox == [] and not OutboundEmail.objects.exists()


def test_neither_the_broker_nor_the_database_sees_the_token_in_clear(
    org, owner_membership, monkeypatch
):
    from invitations import services as service
    from organizations import mail as outbox

    published = []
    monkeypatch.setattr(
        outbox, "task_publish", lambda task, *args: published.append((task, args))
    )
    monkeypatch.setattr(outbox.transaction, "on_commit", lambda fn: fn())
    service.invitations_create(
        actor_membership=owner_membership, emails="dev@acme.test", role_slug="member"
    )
    row = OutboundEmail.objects.get()
    assert published == [(outbox_send, (row.pk,))]  # the id, nothing else
    body = decrypt_secret(row.body_sealed)
    token = LINK_RE.search(body).group(1)
    assert token_hash(token) == Invitation.objects.get().token_hash
    assert token not in row.body_sealed and token not in str(row.ref)
    assert (row.kind, row.to, row.organization) == ("invitation", "dev@acme.test", org)


def test_a_real_smtp_delivery_through_the_email_url_settings(org, invite, smtp_server):
    invite("dev@acme.test, ops@acme.test", role="viewer")

    assert len(smtp_server.messages) == 2
    envelope = next(m for m in smtp_server.messages if m.rcpt_tos == ["dev@acme.test"])
    assert envelope.mail_from == "sso-console@example.com"
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


def test_a_temporary_smtp_refusal_is_retried_by_the_flush(org, invite, smtp_server):
    smtp_server.refuse_next = 1
    invite("dev@acme.test")
    row = OutboundEmail.objects.get()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error and smtp_server.messages == []
    assert emails_flush() == 0  # its next try is a minute away

    OutboundEmail.objects.update(next_attempt_at="2000-01-01T00:00Z")
    assert emails_flush() == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [["dev@acme.test"]]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.body_sealed) == ("sent", 2, "")
    assert Invitation.objects.get().send_count == 1


def test_the_send_task_has_time_limits():
    assert outbox_send.name == "organizations.tasks.outbox_send"
    assert outbox_send.soft_time_limit <= outbox_send.time_limit
