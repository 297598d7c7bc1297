"""The index of sessions per person and organization (accounts.sessions): what
lets an organization end someone's sessions at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import SessionRecord
from accounts.sessions import (
    SSO_BACKEND,
    session_records_prune,
    sessions_end,
)
from connections.backend import BACKEND_PATH
from tests.factories import PASSWORD, make_member, make_org, make_user

pytestmark = pytest.mark.django_db


def _password_sign_in(client: Client, email: str) -> None:
    response = client.post(reverse("login"), {"username": email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:1000]


def _signed_in(client: Client) -> bool:
    return (
        client.get("/accounts/me/", HTTP_ACCEPT="application/json").status_code == 200
    )


def test_the_sso_backend_named_here_is_the_one_sign_in_uses():
    # accounts sits below connections and cannot import it; the receiver
    # skips SSO sign-ins by this name, so the two must stay equal.
    assert SSO_BACKEND == BACKEND_PATH


def test_a_password_sign_in_is_indexed_for_each_active_membership(org, other_org):
    user = make_user("ada@acme.test")
    make_member(org, user=user)
    make_member(other_org, user=user)
    make_member(make_org("initech"), user=user, is_active=False)
    client = Client()
    _password_sign_in(client, user.email)

    rows = SessionRecord.objects.filter(user=user)
    assert {r.organization_id for r in rows} == {org.pk, other_org.pk}
    key = client.session.session_key
    assert key and all(key not in r.session_key_encrypted for r in rows)
    assert all(r.expires_at > timezone.now() + timedelta(hours=11) for r in rows)


def test_ending_a_persons_sessions_in_an_organization_signs_them_out_at_once(org):
    user = make_user("ada@acme.test")
    make_member(org, user=user)
    phone, laptop = Client(), Client()
    _password_sign_in(phone, user.email)
    _password_sign_in(laptop, user.email)
    assert _signed_in(phone) and _signed_in(laptop)

    assert sessions_end(organization_id=org.pk, user_id=user.pk) == 2

    assert not _signed_in(phone) and not _signed_in(laptop)
    assert not SessionRecord.objects.filter(user=user).exists()


def test_another_organization_cannot_end_a_session_that_does_not_reach_it(
    org, other_org
):
    user = make_user("ada@acme.test")
    make_member(org, user=user)
    bystander = make_user("bob@globex.test")
    make_member(other_org, user=bystander)
    ada, bob = Client(), Client()
    _password_sign_in(ada, user.email)
    _password_sign_in(bob, bystander.email)

    assert sessions_end(organization_id=other_org.pk, user_id=user.pk) == 0
    assert sessions_end(organization_id=org.pk, user_id=bystander.pk) == 0

    assert _signed_in(ada) and _signed_in(bob)


def test_signing_out_removes_the_sessions_rows(org):
    user = make_user("ada@acme.test")
    make_member(org, user=user)
    client = Client()
    _password_sign_in(client, user.email)
    assert SessionRecord.objects.filter(user=user).count() == 1

    client.post(reverse("logout"))

    assert not SessionRecord.objects.filter(user=user).exists()


def test_expired_rows_are_pruned_and_live_ones_kept(org):
    user = make_user("ada@acme.test")
    make_member(org, user=user)
    _password_sign_in(Client(), user.email)
    _password_sign_in(Client(), user.email)
    stale = SessionRecord.objects.filter(user=user).first()
    assert stale is not None
    SessionRecord.objects.filter(pk=stale.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert session_records_prune() == 1
    assert SessionRecord.objects.filter(user=user).count() == 1


def test_ending_sessions_needs_a_person_or_an_idp_session(org):
    with pytest.raises(ValueError):
        sessions_end(organization_id=org.pk)
