"""A DraftDelegate (a setup link's IT admin) acts on its own organization's
drafts through the services, audited with its details, and on nothing else."""

from __future__ import annotations

import pytest

from connections.delegates import DraftDelegate, acting_as
from connections.models import Connection, ConnectionCheck
from connections.services.checks import connection_check_start
from connections.services.connections import connection_create, connection_update
from connections.services.sso import signin_test_record
from organizations.errors import PermissionDenied
from organizations.models import AuditEvent
from rolemapping.models import Membership

from .conftest import make_connection

pytestmark = pytest.mark.django_db

DETAILS = {"by": "setup_link", "setup_link_id": 9, "setup_link_email": "it@x.test"}


def delegate_of(org) -> DraftDelegate:
    return DraftDelegate(
        organization=org, email="it@x.test", key="setup_link:9", audit_details=DETAILS
    )


def test_a_delegate_creates_and_edits_a_draft_audited_with_its_details(org):
    delegate = delegate_of(org)
    connection = connection_create(
        actor_membership=delegate,
        name="Okta",
        issuer_url="https://acme.okta.com",
        client_id="abc",
        client_secret="s3cret",
    )
    connection_update(
        actor_membership=delegate,
        connection=connection,
        name="Okta",
        issuer_url="https://acme.okta.com",
        client_id="def",
    )

    connection.refresh_from_db()
    assert connection.draft.client_id == "def" and connection.draft.created_by is None
    for action in ("connection.created", "connection.updated"):
        event = AuditEvent.objects.get(action=action)
        assert event.actor is None
        assert DETAILS.items() <= event.details.items()


def test_a_delegate_reaches_no_other_organizations_connection(org, other_org):
    owner = Membership.objects.get(organization=other_org, user=other_org.owner)
    theirs = make_connection(owner, "https://globex.okta.com")
    delegate = delegate_of(org)

    with pytest.raises(Connection.DoesNotExist):
        connection_update(
            actor_membership=delegate,
            connection=theirs,
            name="Mine now",
            issuer_url="https://evil.example",
            client_id="x",
        )
    with pytest.raises(Connection.DoesNotExist):
        connection_check_start(actor_membership=delegate, connection=theirs)
    with pytest.raises(PermissionDenied) as refused:
        signin_test_record(
            connection=theirs,
            config=theirs.draft,
            actor=delegate,
            passed=True,
            steps=[],
            result={},
        )
    assert refused.value.code == "test_signin_owner_only"
    theirs.refresh_from_db()
    assert theirs.name == "Okta" and not ConnectionCheck.objects.exists()


def test_a_members_permission_is_still_checked(org, member_factory):
    admin = member_factory(org, "admin")
    with pytest.raises(PermissionDenied):
        acting_as(admin)
    owner = Membership.objects.get(organization=org, user=org.owner)
    assert acting_as(owner) == (org, org.owner, {})
