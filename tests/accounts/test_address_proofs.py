"""Which proofs record that an account's address is its own (issue 15, item 1):
an invitation link, a password reset, an operator making the account. (The
confirmation link and SSO have their own tests.)"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from organizations.models import AuditEvent
from tests.factories import make_org, make_user

from .helpers import PASSPHRASE

pytestmark = pytest.mark.django_db


def test_a_password_reset_proves_the_address(client, committed):
    make_user("founder@acme.test", proven=False)
    mail.outbox.clear()
    with committed():
        client.post(reverse("password_reset"), {"email": "founder@acme.test"})
    link = next(
        line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line
    )
    reset_page = client.get(link.split("testserver", 1)[1], follow=True)
    client.post(
        reset_page.redirect_chain[-1][0],
        {
            "new_password1": "brand-new-passphrase-42",
            "new_password2": "brand-new-passphrase-42",
        },
    )
    user = User.objects.get(email="founder@acme.test")
    assert user.email_verified_at is not None
    event = AuditEvent.objects.get(action="user.email_proven")
    assert (event.actor, event.details["via"]) == (user, "password_reset")


def test_accepting_an_invitation_by_its_link_proves_the_address(client, committed):
    from invitations.services import invitations_create

    org = make_org("acme")
    with committed():
        invitations_create(
            actor_membership=org.owner.memberships.get(),
            emails="new@example.test",
            role_slug="member",
        )
    body = next(m for m in mail.outbox if m.to == ["new@example.test"]).body
    link = re.search(r"http://testserver(/invitations/[^/\s]+/)", body).group(1)
    client.post(
        link,
        {"name": "New", "password1": PASSPHRASE, "password2": PASSPHRASE},
    )
    assert User.objects.get(email="new@example.test").email_verified_at is not None


def test_a_signed_in_account_accepting_an_invitation_proves_its_address(
    client, committed
):
    from invitations.services import invitations_create

    org = make_org("acme")
    unproven = make_user("later@example.test", proven=False)
    with committed():
        invitations_create(
            actor_membership=org.owner.memberships.get(),
            emails="later@example.test",
            role_slug="member",
        )
    body = next(m for m in mail.outbox if m.to == ["later@example.test"]).body
    link = re.search(r"http://testserver(/invitations/[^/\s]+/)", body).group(1)
    client.force_login(unproven)
    assert client.post(link).status_code == 302
    unproven.refresh_from_db()
    assert unproven.email_verified_at is not None


def test_accounts_an_operator_makes_are_proven(db):
    from django.core.management import call_command

    call_command(
        "create_org", "--name=Ops", "--login-path=ops", "--owner-email=O@x.test"
    )
    call_command("ensure_demo")  # no-op: an organization exists
    assert User.objects.get(email="o@x.test").email_verified_at is not None
    root = User.objects.create_superuser("root@x.test", "pw-long-enough-123")
    assert root.email_verified_at is not None


def test_the_demo_owner_is_proven(db):
    from django.core.management import call_command

    call_command("ensure_demo")
    assert User.objects.get().email_verified_at is not None


def test_me_says_whether_the_address_is_proven(client):
    for proven in (False, True):
        client.force_login(make_user(proven=proven))
        data = client.get(reverse("me"), HTTP_ACCEPT="application/json").json()
        assert data["email_verified"] is proven
