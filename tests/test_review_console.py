"""Adversarial review of the console's non-SSO pages: hostile input must get a
4xx with a sentence, never a 500 (PostgreSQL refuses NUL characters in text)."""

from __future__ import annotations

import pytest
from django.test import Client

from rolemapping.models import Membership


def _client(user) -> Client:
    # A real request path: a 500 comes back as a response, not an exception.
    client = Client(raise_request_exception=False)
    client.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/orgs/acme%00/",
        "/orgs/%00/members/",
        "/orgs/acme%00/connections/",
        "/orgs/acme%00/mappings/",
        "/orgs/" + "a" * 5000 + "/",
    ],
)
def test_console_url_with_unstorable_org_path_is_404(org, url):
    response = _client(org.owner).get(url, HTTP_ACCEPT="application/json")

    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["\x00", "mem\x00ber", "x" * 5000, "ADMIN"])
def test_member_role_change_refuses_unknown_role_without_error(
    org, member_factory, role
):
    member = member_factory(org, "viewer")

    response = _client(org.owner).post(
        f"/orgs/acme/members/{member.pk}/role/", {"role": role}, follow=True
    )

    assert response.status_code == 200
    assert "There is no such role" in response.content.decode()
    member.refresh_from_db()
    assert member.role.slug == "viewer"
    assert not Membership.objects.filter(organization=org, role__slug="").exists()


@pytest.mark.parametrize("path", ["acme%00", "ac%00me", "a" * 300])
@pytest.mark.parametrize("prefix", ["/sso/login/", "/sso/initiate/"])
def test_public_sso_url_with_unstorable_org_path_is_404(client, org, prefix, path):
    response = client.get(f"{prefix}{path}/")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "url",
    ["/accounts/signup/", "/accounts/login/", "/orgs/acme/connections/new/"],
)
def test_an_empty_post_is_a_400_that_says_what_is_missing(owner_client, org, url):
    if url.startswith("/accounts/"):
        owner_client.logout()
    response = owner_client.post(url, {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
