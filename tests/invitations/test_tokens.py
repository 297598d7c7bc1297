"""An invitation link works once, and only the latest one works."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from invitations.models import Invitation
from invitations.services import (
    InvitationLinkError,
    invitation_from_token,
    invitation_resend,
    invitation_revoke,
)
from organizations.errors import ServiceError
from organizations.models import AuditEvent

from .conftest import tokens_in_outbox


def accept_url(token):
    return reverse("invitation_accept", args=[token])


def signup(client, token, password):
    return client.post(
        accept_url(token), {"password1": password, "password2": password}
    )


def test_only_the_hash_of_the_token_is_stored(org, invite):
    invite("dev@acme.test")
    (token,) = tokens_in_outbox("dev@acme.test")
    stored = Invitation.objects.values_list("token_hash", flat=True).get()
    assert token not in stored and len(stored) == 64
    assert not AuditEvent.objects.filter(details__icontains=token).exists()


def test_a_token_works_once(client, org, issue, password):
    _, token = issue(org, "dev@acme.test")
    assert signup(client, token, password).status_code == 302
    client.logout()

    response = client.get(accept_url(token))
    assert response.status_code == 410
    assert "already used" in response.content.decode()
    response = signup(client, token, password)
    assert response.status_code == 410


def refusal_code(token):
    with pytest.raises(InvitationLinkError) as refused:
        invitation_from_token(token)
    return refused.value.code


def test_an_expired_token_is_refused(client, org, issue, password):
    _, token = issue(org, "dev@acme.test", expires_in=timedelta(seconds=-1))
    response = client.get(accept_url(token))
    assert response.status_code == 410
    assert refusal_code(token) == "invitation_expired"
    assert signup(client, token, password).status_code == 410


def test_a_revoked_token_is_refused(client, org, issue, owner_membership, password):
    invitation, token = issue(org, "dev@acme.test")
    invitation_revoke(actor_membership=owner_membership, invitation=invitation)
    response = client.get(accept_url(token))
    assert response.status_code == 410
    assert refusal_code(token) == "invitation_revoked"
    assert signup(client, token, password).status_code == 410
    assert AuditEvent.objects.filter(action="invitation.revoked").count() == 1


def test_re_sending_kills_the_old_link(
    client, org, invite, owner_membership, django_capture_on_commit_callbacks
):
    invite("dev@acme.test")
    invitation = Invitation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        invitation_resend(actor_membership=owner_membership, invitation=invitation)
    old, new = tokens_in_outbox("dev@acme.test")

    assert old != new
    assert client.get(accept_url(old)).status_code == 404
    assert refusal_code(old) == "invitation_link_invalid"
    assert client.get(accept_url(new)).status_code == 200


def test_a_token_altered_by_one_character_is_refused(client, org, issue):
    _, token = issue(org, "dev@acme.test")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for altered in (flipped, token[:-1], token + "x"):
        response = client.get(accept_url(altered))
        assert response.status_code == 404
        assert refusal_code(altered) == "invitation_link_invalid"
    assert client.get(accept_url(token)).status_code == 200


def test_an_absurdly_long_token_is_refused_without_work(org):
    assert refusal_code("x" * 10_000) == "invitation_link_invalid"


def test_re_send_and_revoke_from_the_list_page(
    owner_client, org, issue, django_capture_on_commit_callbacks
):
    invitation, token = issue(org, "dev@acme.test")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("invitation_resend", args=["acme", invitation.pk]), follow=True
        )
    assert "A new invitation link was sent" in response.content.decode()
    assert len(tokens_in_outbox("dev@acme.test")) == 1
    assert owner_client.get(accept_url(token)).status_code == 404

    response = owner_client.post(
        reverse("invitation_revoke", args=["acme", invitation.pk]), follow=True
    )
    assert "was revoked" in response.content.decode()
    assert Invitation.objects.get().state == "revoked"

    for action in ("invitation_revoke", "invitation_resend"):
        response = owner_client.post(
            reverse(action, args=["acme", invitation.pk]), follow=True
        )
        assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_a_revoked_invitation_is_neither_revoked_nor_re_sent_again(
    org, issue, owner_membership
):
    invitation, _ = issue(org, "dev@acme.test")
    invitation_revoke(actor_membership=owner_membership, invitation=invitation)
    for action in (invitation_revoke, invitation_resend):
        with pytest.raises(ServiceError) as refused:
            action(actor_membership=owner_membership, invitation=invitation)
        assert refused.value.code == "invitation_revoked"


def test_an_accepted_invitation_is_neither_revoked_nor_re_sent(
    org, issue, owner_membership
):
    invitation, _ = issue(org, "dev@acme.test", accepted_at=timezone.now())
    for action in (invitation_revoke, invitation_resend):
        with pytest.raises(ServiceError) as refused:
            action(actor_membership=owner_membership, invitation=invitation)
        assert refused.value.code == "invitation_accepted"
