"""What an unproven address may do (issue 15, item 1): look around its own
organization, and nothing that decides who gets in."""

from __future__ import annotations

import pytest
from django.core import mail

from domains.models import Domain
from invitations.models import Invitation
from organizations.models import Organization
from rolemapping.models import GroupRoleMapping
from tests.connections.sso.helpers import make_connection
from tests.factories import make_member

from .helpers import confirm_link, text_of

pytestmark = pytest.mark.django_db

GATE_SENTENCE = "Confirm your email address first"


def test_an_unproven_owner_may_look_around_the_console(client, founder):
    for page in ("", "domains/", "connections/", "mappings/", "invitations/"):
        assert client.get(f"/orgs/acme/{page}").status_code == 200, page


def test_an_unproven_owner_cannot_add_a_domain(client, founder):
    response = client.post("/orgs/acme/domains/", {"domain": "acme.test"})
    assert response.status_code == 400
    assert GATE_SENTENCE in text_of(response)
    assert not Domain.objects.exists()


def test_an_unproven_owner_cannot_invite_anyone(client, founder):
    response = client.post(
        "/orgs/acme/invitations/", {"emails": "victim@example.test", "role": "admin"}
    )
    assert response.status_code == 400
    assert GATE_SENTENCE in text_of(response)
    assert not Invitation.objects.exists()
    assert all(m.to == ["founder@acme.test"] for m in mail.outbox)


def test_an_unproven_owner_cannot_add_a_connection(client, founder):
    for response in (
        client.get("/orgs/acme/connections/new/"),
        client.post(
            "/orgs/acme/connections/new/",
            {
                "name": "IdP",
                "issuer_url": "https://idp.example.test",
                "client_id": "x",
                "client_secret": "y",
            },
        ),
    ):
        assert response.status_code == 403
        assert GATE_SENTENCE in text_of(response)
    assert not Organization.objects.get().connections.exists()


def test_an_unproven_owner_cannot_publish_or_enforce_sso(client, founder):
    org = Organization.objects.get()
    connection = make_connection(org, issuer="https://idp.example.test", live=False)
    url = f"/orgs/acme/connections/{connection.pk}/publish/"
    for response in (client.get(url), client.post(url, {"confirm": "acme"})):
        assert response.status_code == 403
        assert GATE_SENTENCE in text_of(response)
    org.refresh_from_db()
    assert not org.sso_enforced


def test_an_unproven_owner_cannot_map_groups_or_change_roles(client, founder):
    org = Organization.objects.get()
    response = client.post(
        "/orgs/acme/mappings/", {"idp_group": "Admins", "role": "admin"}
    )
    assert response.status_code in (400, 403)
    assert GATE_SENTENCE in text_of(response)
    assert not GroupRoleMapping.objects.filter(organization=org).exists()
    teammate = make_member(org, "viewer")
    response = client.post(f"/orgs/acme/members/{teammate.pk}/role/", {"role": "admin"})
    assert response.status_code in (302, 400, 403)
    teammate.refresh_from_db()
    assert teammate.role.slug == "viewer"


def test_once_proven_the_same_owner_adds_a_domain(client, founder):
    client.post(confirm_link("founder@acme.test"))
    response = client.post("/orgs/acme/domains/", {"domain": "acme.test"})
    assert response.status_code == 302
    assert Domain.objects.filter(name="acme.test").exists()


def test_the_gate_holds_in_the_services_too(founder):
    from domains.services import domain_add
    from organizations.errors import AddressUnproven

    membership = founder.memberships.get()
    with pytest.raises(AddressUnproven) as refused:
        domain_add(actor_membership=membership, name="acme.test")
    assert refused.value.code == "address_unproven"
    assert GATE_SENTENCE in str(refused.value)


def test_an_unproven_owner_cannot_record_a_test_sign_in(founder):
    from connections.services.sso import signin_test_record
    from organizations.errors import AddressUnproven

    org = Organization.objects.get()
    connection = make_connection(org, issuer="https://idp.example.test", live=False)
    with pytest.raises(AddressUnproven):
        signin_test_record(
            connection=connection,
            config=connection.draft,
            actor=founder,
            passed=True,
            steps=[],
            result={},
        )
