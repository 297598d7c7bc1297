"""The invitations list and the periodic expiry."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from invitations.models import Invitation
from invitations.tasks import invitations_expire
from organizations.models import AuditEvent
from tests.factories import make_user


@pytest.fixture
def four_states(org, issue):
    user = make_user("acc@acme.test")
    issue(org, "pending@acme.test")
    issue(org, "expired@acme.test", expires_in=timedelta(hours=-1))
    issue(org, "accepted@acme.test", accepted_at=timezone.now(), accepted_by=user)
    issue(org, "revoked@acme.test", revoked_at=timezone.now())


def test_the_list_shows_every_state_with_actions_on_open_ones(
    owner_client, org, four_states
):
    url = reverse("invitation_list", args=["acme"])
    html = owner_client.get(url).content.decode()
    for state in ("Pending", "Expired", "Accepted", "Revoked"):
        assert f">{state}</span>" in html
    assert html.count("Re-send</button>") == 2
    assert html.count("Revoke</button>") == 2


@pytest.mark.parametrize("state", ["pending", "expired", "accepted", "revoked"])
def test_the_list_filters_by_state(owner_client, org, four_states, state):
    url = reverse("invitation_list", args=["acme"])
    data = owner_client.get(
        url, {"state": state}, HTTP_ACCEPT="application/json"
    ).json()
    assert [(row["email"], row["state"]) for row in data] == [
        (f"{state}@acme.test", state)
    ]


def test_an_unknown_state_filter_shows_everything(owner_client, org, four_states):
    url = reverse("invitation_list", args=["acme"])
    data = owner_client.get(
        url, {"state": "nope", "page": "x"}, HTTP_ACCEPT="application/json"
    ).json()
    assert len(data) == 4


def test_the_empty_list_says_so(owner_client, org):
    html = owner_client.get(reverse("invitation_list", args=["acme"])).content
    assert b"Nobody has been invited yet." in html


@pytest.mark.parametrize("rows", [3, 70])
def test_the_list_costs_constant_queries(
    owner_client, org, issue, rows, django_assert_max_num_queries
):
    inviter = make_user()
    for i in range(rows):
        invitation, _ = issue(org, f"p{i}@acme.test")
        Invitation.objects.filter(pk=invitation.pk).update(invited_by=inviter)
    # session, user, membership, switcher, count, page
    with django_assert_max_num_queries(7):
        response = owner_client.get(reverse("invitation_list", args=["acme"]))
    assert response.status_code == 200


def test_the_expiry_task_marks_and_audits_expired_invitations_once(org, four_states):
    assert "invitations.tasks.invitations_expire" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert invitations_expire.apply().get() == 1

    expired = Invitation.objects.get(email="expired@acme.test")
    assert expired.expired_marked_at is not None
    assert Invitation.objects.filter(expired_marked_at__isnull=False).count() == 1
    (event,) = AuditEvent.objects.filter(action="invitation.expired")
    assert event.target == "expired@acme.test" and event.actor is None

    assert invitations_expire.apply().get() == 0
    assert AuditEvent.objects.filter(action="invitation.expired").count() == 1


def test_re_sending_an_expired_invitation_clears_its_expiry_mark(
    org, issue, owner_membership, django_capture_on_commit_callbacks
):
    from invitations.services import invitation_resend

    invitation, _ = issue(org, "late@acme.test", expires_in=timedelta(hours=-1))
    invitations_expire.apply()
    with django_capture_on_commit_callbacks(execute=True):
        invitation_resend(actor_membership=owner_membership, invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.state == "pending" and invitation.expired_marked_at is None
    ttl = invitation.expires_at - timezone.now()
    assert timedelta(days=6, hours=23) < ttl <= timedelta(days=7)
