"""The Django admin for support staff: email domains, read-only."""

from __future__ import annotations

import itertools

from domains.models import Domain
from tests.admin_pages import (
    assert_constant_changelist_queries,
    change_url,
    changelist_url,
    page,
)

_n = itertools.count(1)


def make_domain(org, name=None, **fields):
    return Domain.objects.create(
        organization=org, name=name or f"d{next(_n)}.test", token="tok", **fields
    )


def test_domain_pages_render_and_search_by_domain_and_organization(
    admin_client, org, other_org
):
    acme = make_domain(org, "acme.test", status=Domain.Status.VERIFIED)
    make_domain(other_org, "globex.test")
    for term in ("acme.test", "Acme Inc", "acme"):
        response = admin_client.get(changelist_url(Domain), {"q": term})
        assert list(response.context["cl"].result_list) == [acme], term
    response = admin_client.get(changelist_url(Domain), {"status__exact": "verified"})
    assert list(response.context["cl"].result_list) == [acme]
    page(admin_client, change_url(acme))
    assert admin_client.post(change_url(acme), {"status": "failed"}).status_code == 403


def test_domain_changelist_costs_the_same_with_1_and_20_rows(
    admin_client, org, django_assert_max_num_queries
):
    assert_constant_changelist_queries(
        admin_client, Domain, lambda: make_domain(org), django_assert_max_num_queries
    )
