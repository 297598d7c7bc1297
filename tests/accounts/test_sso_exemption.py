"""Password sign-in and SSO enforcement (issue 15, item 1): owning some
organization never exempts anyone from the SSO of another that enforces it;
the owner of an enforced organization keeps break-glass access to it only."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, make_member, make_org

pytestmark = pytest.mark.django_db


def signed_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


def test_owning_another_organization_never_exempts_from_an_enforced_orgs_sso(
    client,
):
    acme = make_org("acme", name="Acme")
    mine = make_org("mine")
    make_member(acme, "member", user=mine.owner)
    acme.sso_enforced = True
    acme.save()

    response = client.post(
        reverse("login"), {"username": mine.owner.email, "password": PASSWORD}
    )

    assert response.status_code == 400
    assert "Acme requires single sign-on" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_the_owner_of_an_enforced_org_keeps_break_glass_to_it_only(client):
    acme = make_org("acme", name="Acme")
    globex = make_org("globex", name="Globex")
    make_member(globex, "admin", user=acme.owner)
    for org in (acme, globex):
        org.sso_enforced = True
        org.save()

    response = client.post(
        reverse("login"), {"username": acme.owner.email, "password": PASSWORD}
    )

    assert response.status_code == 302
    assert client.get("/orgs/acme/").status_code == 200
    refused = client.get("/orgs/globex/")
    assert refused.status_code == 403
    assert "Globex requires single sign-on" in html.unescape(refused.content.decode())
