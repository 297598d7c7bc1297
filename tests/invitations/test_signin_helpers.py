"""What the SSO callback calls: invitation_for_signin and invitation_mark_accepted."""

from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.models import Invitation
from invitations.services import (
    invitation_for_signin,
    invitation_mark_accepted,
)
from organizations.errors import ServiceError
from organizations.models import AuditEvent
from tests.factories import make_user


def test_the_sessions_invitation_is_returned_for_its_email(org, issue):
    invitation, _ = issue(org, "dev@acme.test")
    found = invitation_for_signin(
        organization=org, invitation_id=invitation.pk, email="Dev@ACME.test"
    )
    assert found == invitation


def test_another_email_is_refused_naming_the_expected_address(org, issue):
    invitation, _ = issue(org, "dev@acme.test")
    with pytest.raises(ServiceError) as refusal:
        invitation_for_signin(
            organization=org, invitation_id=invitation.pk, email="other@acme.test"
        )
    assert refusal.value.code == "email_mismatch"
    assert "dev@acme.test" in str(refusal.value)
    assert "other@acme.test" in str(refusal.value)


def test_without_a_session_invitation_the_open_one_for_the_email_is_found(org, issue):
    invitation, _ = issue(org, "dev@acme.test")
    issue(org, "late@acme.test", expires_in=timedelta(seconds=-1))
    assert (
        invitation_for_signin(
            organization=org, invitation_id=None, email="DEV@acme.test"
        )
        == invitation
    )
    assert (
        invitation_for_signin(
            organization=org, invitation_id=None, email="late@acme.test"
        )
        is None
    )
    assert (
        invitation_for_signin(organization=org, invitation_id=None, email="x@acme.test")
        is None
    )


def test_an_invitation_id_of_another_organization_is_ignored(org, other_org, issue):
    theirs, _ = issue(other_org, "dev@acme.test")
    ours, _ = issue(org, "dev@acme.test")
    assert (
        invitation_for_signin(
            organization=org, invitation_id=theirs.pk, email="dev@acme.test"
        )
        == ours
    )


def test_a_session_invitation_revoked_meanwhile_is_refused(org, issue):
    invitation, _ = issue(org, "dev@acme.test", revoked_at=timezone.now())
    with pytest.raises(ServiceError) as refused:
        invitation_for_signin(
            organization=org, invitation_id=invitation.pk, email="dev@acme.test"
        )
    assert refused.value.code == "invitation_revoked"


def test_a_session_invitation_already_accepted_gives_none(org, issue):
    user = make_user("dev@acme.test")
    invitation, _ = issue(
        org, "dev@acme.test", accepted_at=timezone.now(), accepted_by=user
    )
    assert (
        invitation_for_signin(
            organization=org, invitation_id=invitation.pk, email="dev@acme.test"
        )
        is None
    )


def test_marking_accepted_works_once_and_is_audited(org, issue):
    invitation, _ = issue(org, "dev@acme.test")
    user = make_user("dev@acme.test")

    invitation_mark_accepted(invitation=invitation, user=user, ip="127.0.0.1")
    # The same person again (a double submit) is harmless.
    invitation_mark_accepted(invitation=invitation, user=user)

    row = Invitation.objects.get(pk=invitation.pk)
    assert row.accepted_by == user and row.state == "accepted"
    (event,) = AuditEvent.objects.filter(action="invitation.accepted")
    assert event.actor == user and event.details == {"role": "member", "via": "sso"}
    assert event.ip_address == "127.0.0.1"

    other = make_user("dev2@acme.test")
    with pytest.raises(ServiceError) as refused:
        invitation_mark_accepted(invitation=invitation, user=other)
    assert refused.value.code == "invitation_used"


def test_marking_accepted_refuses_another_email_and_an_expired_invitation(org, issue):
    invitation, _ = issue(org, "dev@acme.test")
    with pytest.raises(ServiceError) as refused:
        invitation_mark_accepted(invitation=invitation, user=make_user("x@acme.test"))
    assert refused.value.code == "email_mismatch"
    expired, _ = issue(org, "old@acme.test", expires_in=timedelta(seconds=-1))
    with pytest.raises(ServiceError) as refused:
        invitation_mark_accepted(invitation=expired, user=make_user("old@acme.test"))
    assert refused.value.code == "invitation_expired"
    assert not Invitation.objects.filter(accepted_at__isnull=False).exists()
