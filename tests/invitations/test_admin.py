"""The Django admin for support staff: invitations, read-only, no token digest."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

from invitations.models import Invitation
from invitations.services import token_hash
from rolemapping.models import Role
from tests.admin_pages import (
    assert_constant_changelist_queries,
    change_url,
    changelist_url,
    page,
)

_n = itertools.count(1)


def invite(org, email=None, **fields):
    values = {
        "email": email or f"person{next(_n)}@acme.test",
        "role": Role.objects.get(organization=org, slug="member"),
        "token_hash": token_hash(f"token-{next(_n)}"),
        "invited_by": org.owner,
        "expires_at": timezone.now() + timedelta(days=7),
    }
    return Invitation.objects.create(organization=org, **(values | fields))


def test_invitation_pages_render_search_and_never_show_the_token_digest(
    admin_client, org, other_org
):
    ada = invite(org, "ada@acme.test")
    invite(other_org, "ada@globex.test")
    response = admin_client.get(changelist_url(Invitation), {"q": "ada@acme"})
    assert list(response.context["cl"].result_list) == [ada]
    response = admin_client.get(changelist_url(Invitation), {"q": "acme"})
    assert list(response.context["cl"].result_list) == [ada]
    for url in (changelist_url(Invitation), change_url(ada)):
        html = page(admin_client, url)
        assert ada.token_hash not in html
        # The admin's sidebar lists the directory's "scim tokens" model.
        text = html.lower().replace("csrfmiddlewaretoken", "")
        text = text.replace("scimtoken", "").replace("scim tokens", "")
        assert "token" not in text
    assert admin_client.post(change_url(ada), {"email": "x@y.z"}).status_code == 403


def test_invitations_filter_by_state(admin_client, org):
    pending = invite(org)
    accepted = invite(org, accepted_at=timezone.now())
    revoked = invite(org, revoked_at=timezone.now())
    expired = invite(org, expires_at=timezone.now() - timedelta(days=1))
    for state, expected in (
        ("pending", pending),
        ("accepted", accepted),
        ("revoked", revoked),
        ("expired", expired),
    ):
        response = admin_client.get(changelist_url(Invitation), {"state": state})
        assert list(response.context["cl"].result_list) == [expected], state


def test_invitation_changelist_costs_the_same_with_1_and_20_rows(
    admin_client, org, django_assert_max_num_queries
):
    assert_constant_changelist_queries(
        admin_client, Invitation, lambda: invite(org), django_assert_max_num_queries
    )
