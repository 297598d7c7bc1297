"""The owner's setup links: created and shown once, revoked, expired; opened
in one browser only."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from organizations.errors import PermissionDenied, ServiceError
from organizations.models import AuditEvent
from setuplinks.models import SetupLink
from setuplinks.services import setup_link_create, setup_link_revoke

from .conftest import IT_EMAIL, TOKEN_RE, new_link, open_link

pytestmark = pytest.mark.django_db


def test_the_owner_creates_a_link_that_is_shown_once_and_stored_as_a_digest(
    owner_client, org
):
    response = owner_client.post(
        "/orgs/acme/setup-links/", {"email": "IT-Admin@Acme.test", "note": "Okta"}
    )

    assert response.status_code == 201
    page = response.content.decode()
    token = TOKEN_RE.search(page).group(1)
    link = SetupLink.objects.get()
    assert (link.email, link.note, link.state) == (IT_EMAIL, "Okta", "active")
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(AuditEvent.objects.values_list("details", flat=True))
    assert link.expires_at - link.created_at == timedelta(days=7)
    event = AuditEvent.objects.get(action="setup_link.created")
    assert (event.actor, event.target) == (org.owner, IT_EMAIL)
    # Shown once: the list does not show it again.
    again = owner_client.get("/orgs/acme/setup-links/")
    assert again.status_code == 200
    assert token not in again.content.decode()
    assert IT_EMAIL in again.content.decode()


def test_the_json_twin_creates_and_lists_links(owner_client):
    created = owner_client.post(
        "/orgs/acme/setup-links/",
        {"email": IT_EMAIL},
        HTTP_ACCEPT="application/json",
    )
    assert created.status_code == 201
    body = created.json()
    assert TOKEN_RE.fullmatch(body["url"])
    assert body["state"] == "active"
    listed = owner_client.get(
        "/orgs/acme/setup-links/", HTTP_ACCEPT="application/json"
    ).json()
    assert [row["id"] for row in listed] == [body["id"]]
    assert "url" not in listed[0]
    bad = owner_client.post(
        "/orgs/acme/setup-links/", {"email": "nope"}, HTTP_ACCEPT="application/json"
    )
    assert bad.status_code == 400


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_only_those_who_manage_connections_create_links(
    client, org, member_factory, role
):
    member = member_factory(org, role)
    client.force_login(member.user, backend="accounts.backends.EmailPasswordBackend")

    response = client.post("/orgs/acme/setup-links/", {"email": IT_EMAIL})

    assert response.status_code == 403
    assert not SetupLink.objects.exists()
    with pytest.raises(PermissionDenied) as refused:
        setup_link_create(actor_membership=member, email=IT_EMAIL)
    assert refused.value.code == "role_not_allowed"


def test_a_bad_address_is_refused_with_a_sentence(owner_membership):
    with pytest.raises(ServiceError) as refused:
        setup_link_create(actor_membership=owner_membership, email="not an address")
    assert refused.value.code == "setup_link_email_invalid"


def test_a_new_link_for_the_same_person_revokes_the_earlier_one(owner_membership):
    first, first_token = new_link(owner_membership)
    second, _token = new_link(owner_membership)

    first.refresh_from_db()
    assert (first.state, second.state) == ("revoked", "active")
    page = Client().get(f"/setup/{first_token}/")
    assert page.status_code == 410
    assert "revoked" in page.content.decode()


def test_the_link_page_takes_a_post_to_open_so_previewers_cannot_take_it(
    link_and_token,
):
    link, token = link_and_token
    previewer = Client()

    page = previewer.get(f"/setup/{token}/")

    assert page.status_code == 200
    assert "Start setting up" in page.content.decode()
    link.refresh_from_db()
    assert link.opened_at is None and link.binding_hash == ""
    assert previewer.get("/setup/").status_code == 403


def test_an_opened_link_works_only_in_the_browser_that_opened_it(link_and_token, org):
    link, token = link_and_token
    browser = open_link(token)
    assert browser.get("/setup/").status_code == 200
    # Opening it again in the same browser is harmless.
    assert browser.get(f"/setup/{token}/")["Location"] == "/setup/"
    assert browser.post(f"/setup/{token}/")["Location"] == "/setup/"

    other = Client()
    assert other.get(f"/setup/{token}/").status_code == 409
    refused = other.post(f"/setup/{token}/")

    assert refused.status_code == 409
    assert "already opened in another browser" in refused.content.decode()
    assert other.get("/setup/").status_code == 403
    opened = AuditEvent.objects.filter(action="setup_link.opened")
    assert opened.count() == 1
    assert opened.get().details["setup_link_email"] == IT_EMAIL


def test_revoking_refuses_the_browser_at_its_next_request(
    owner_client, link_and_token, org
):
    link, token = link_and_token
    browser = open_link(token)

    response = owner_client.post(f"/orgs/acme/setup-links/{link.pk}/revoke/")

    assert response.status_code == 302
    for path in ("/setup/", "/setup/configure/"):
        refused = browser.get(path)
        assert refused.status_code == 410, path
        assert "This setup link was revoked" in refused.content.decode()
    assert browser.post("/setup/check/").status_code == 410
    assert browser.post(f"/setup/{token}/").status_code == 410
    json = browser.get("/setup/", HTTP_ACCEPT="application/json")
    assert json.json()["code"] == "setup_link_revoked"
    assert AuditEvent.objects.filter(
        action="setup_link.revoked", actor=org.owner
    ).exists()


def test_an_expired_link_is_refused(link_and_token):
    link, token = link_and_token
    browser = open_link(token)
    SetupLink.objects.filter(pk=link.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    refused = browser.get("/setup/")

    assert refused.status_code == 410
    assert "expired" in refused.content.decode()
    assert Client().get(f"/setup/{token}/").status_code == 410


def test_an_unknown_token_gets_a_404_page_that_says_so(db):
    response = Client().get("/setup/" + "x" * 43 + "/")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_the_owner_of_another_organization_cannot_revoke_it(
    client, link_and_token, other_org
):
    link, _token = link_and_token
    client.force_login(
        other_org.owner, backend="accounts.backends.EmailPasswordBackend"
    )
    assert client.post(f"/orgs/acme/setup-links/{link.pk}/revoke/").status_code == 404
    assert client.post(f"/orgs/globex/setup-links/{link.pk}/revoke/").status_code == 404
    other = other_org.owner.memberships.select_related("organization", "role").get()
    with pytest.raises(SetupLink.DoesNotExist):
        setup_link_revoke(actor_membership=other, link=link)
    link.refresh_from_db()
    assert link.state == "active"
