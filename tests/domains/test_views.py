"""The domains page, its JSON view and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from domains.models import Domain
from domains.services import domain_record
from organizations.models import AuditEvent
from tests.conftest import client_for
from tests.factories import make_member, make_org

LIST = "/orgs/acme/domains/"  # the contract's URL
JSON = {"HTTP_ACCEPT": "application/json"}


def verify_url(domain):
    return f"/orgs/acme/domains/{domain.pk}/verify/"


def delete_url(domain):
    return f"/orgs/acme/domains/{domain.pk}/delete/"


def test_adding_a_domain_normalizes_it_and_shows_its_txt_record(owner_client, org):
    response = owner_client.post(LIST, {"domain": "  Bücher.Example.COM. "})

    domain = Domain.objects.get(organization=org)
    assert domain.name == "xn--bcher-kva.example.com"
    assert domain.status == Domain.Status.PENDING
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}#domain-{domain.pk}"
    page = owner_client.get(LIST).content.decode()
    txt_name, txt_value = domain_record(domain)
    assert f'<code id="txt-name-{domain.pk}">{txt_name}</code>' in page
    assert f'<code id="txt-value-{domain.pk}">{txt_value}</code>' in page
    assert f'data-copy-target="txt-value-{domain.pk}"' in page
    assert "xn--bcher-kva.example.com was added" in page
    assert AuditEvent.objects.filter(
        organization=org, action="domain.added", actor=org.owner
    ).exists()


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("gmail.com", "domain_free_email"),
        ("co.uk", "domain_public_suffix"),
        ("https://acme.com/", "domain_is_url"),
        ("", "domain_missing"),
        ("localhost", "domain_incomplete"),
    ],
)
def test_unusable_domains_are_refused_with_a_code_and_a_sentence(
    owner_client, org, typed, code
):
    json_response = owner_client.post(LIST, {"domain": typed}, **JSON)
    assert json_response.status_code == 400
    assert json_response.json()["code"] == code
    sentence = json_response.json()["error"]

    response = owner_client.post(LIST, {"domain": typed})
    assert response.status_code == 400
    assert escape(sentence) in response.content.decode()
    assert not Domain.objects.exists()


def test_a_refusal_on_the_page_is_a_sentence(owner_client, org):
    response = owner_client.post(LIST, {"domain": "gmail.com"})
    assert "is a free email provider" in response.content.decode()


def test_a_bad_form_answers_json_with_a_code(owner_client, org):
    response = owner_client.post(LIST, {"domain": "a" * 2000}, **JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "form_invalid"


def test_adding_a_domain_twice_is_refused(owner_client, org, add_domain):
    add_domain(org, "acme.test")
    response = owner_client.post(LIST, {"domain": "ACME.test"})
    assert response.status_code == 400
    response = owner_client.post(LIST, {"domain": "ACME.test"}, **JSON)
    assert response.json()["code"] == "domain_already_added"
    assert Domain.objects.count() == 1


def test_claiming_a_domain_verified_elsewhere_is_refused(owner_client, org, add_domain):
    globex = make_org("globex")
    theirs = add_domain(globex, "acme.test")
    Domain.objects.filter(pk=theirs.pk).update(status=Domain.Status.VERIFIED)

    response = owner_client.post(LIST, {"domain": "acme.test"})
    assert response.status_code == 400
    assert b"Globex" not in response.content

    response = owner_client.post(LIST, {"domain": "acme.test"}, **JSON)
    assert response.json()["code"] == "domain_verified_elsewhere"
    assert b"Globex" not in response.content
    assert not Domain.objects.filter(organization=org).exists()


def test_a_pending_claim_elsewhere_does_not_block_adding(owner_client, org, add_domain):
    add_domain(make_org("globex"), "acme.test")
    response = owner_client.post(LIST, {"domain": "acme.test"}, **JSON)
    assert response.status_code == 201
    assert Domain.objects.filter(name="acme.test").count() == 2


def test_json_view_gives_the_contract_keys(owner_client, org, add_domain):
    domain = add_domain(org, "acme.test")
    Domain.objects.filter(pk=domain.pk).update(detail="Not checked.")

    data = owner_client.get(LIST, **JSON).json()

    txt_name, txt_value = domain_record(domain)
    assert data == [
        {
            "id": domain.pk,
            "domain": "acme.test",
            "status": "pending",
            "txt_name": txt_name,
            "txt_value": txt_value,
            "detail": "Not checked.",
        }
    ]


def test_json_add_answers_with_the_new_row(owner_client, org):
    response = owner_client.post(LIST, {"domain": "acme.test"}, **JSON)
    assert response.status_code == 201
    row = response.json()
    assert set(row) == {"id", "domain", "status", "txt_name", "txt_value", "detail"}
    assert row["txt_name"] == "_sso-console-challenge.acme.test"


def test_verify_now_runs_the_check_and_shows_the_result(
    transactional_db, owner_client, org, add_domain, publish
):
    # Committed for real, as without a broker: the check runs in-process when
    # the request's transaction commits, before the redirect.
    domain = add_domain(org, "acme.test")
    publish(domain)

    response = owner_client.post(verify_url(domain))

    assert response.status_code == 302
    domain.refresh_from_db()
    assert domain.status == Domain.Status.VERIFIED
    assert domain.check_requested_at is None
    page = owner_client.get(LIST).content.decode()
    assert "acme.test is verified." in page
    assert "data-poll-url" not in page
    actions = set(
        AuditEvent.objects.filter(organization=org).values_list("action", "actor")
    )
    assert ("domain.check_requested", org.owner.pk) in actions
    assert ("domain.verified", org.owner.pk) in actions


def test_the_page_polls_while_a_check_is_queued(
    owner_client, org, add_domain, publish, django_capture_on_commit_callbacks
):
    domain = add_domain(org, "acme.test")
    publish(domain)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        owner_client.post(verify_url(domain))
    # Queued, not run yet: what the page shows while the worker is busy.
    assert len(queued) == 1
    page = owner_client.get(LIST).content.decode()
    assert f'data-poll-url="{verify_url(domain)}"' in page
    assert 'data-status="checking"' in page
    state = owner_client.get(verify_url(domain), **JSON).json()
    assert state["status"] == "checking"

    # A second click does not queue a second check.
    with django_capture_on_commit_callbacks(execute=False) as again:
        response = owner_client.post(verify_url(domain), follow=True)
    assert again == []
    assert "A check of acme.test is already running." in response.content.decode()

    queued[0]()
    state = owner_client.get(verify_url(domain), **JSON).json()
    assert state == {
        "id": domain.pk,
        "domain": "acme.test",
        "status": "verified",
        "detail": "Verified: found the TXT record at _sso-console-challenge.acme.test.",
        "worker_missing": False,
    }


def test_a_check_lost_for_minutes_no_longer_shows_as_running(
    owner_client, org, add_domain
):
    domain = add_domain(org, "acme.test")
    Domain.objects.filter(pk=domain.pk).update(
        check_requested_at=timezone.now() - timedelta(minutes=6)
    )
    assert owner_client.get(verify_url(domain), **JSON).json()["status"] == "pending"
    assert "data-poll-url" not in owner_client.get(LIST).content.decode()


def test_verify_of_a_domain_verified_elsewhere_meanwhile_is_a_sentence_not_a_500(
    transactional_db, owner_client, org, add_domain, publish
):
    ours = add_domain(org, "acme.test")
    theirs = add_domain(make_org("globex"), "acme.test")
    Domain.objects.filter(pk=theirs.pk).update(status=Domain.Status.VERIFIED)
    publish(ours)

    response = owner_client.post(verify_url(ours), follow=True)

    assert response.status_code == 200
    body = response.content.decode()
    assert "acme.test is not verified yet" in body
    assert "already verified by another organization" in body
    ours.refresh_from_db()
    assert ours.status == Domain.Status.FAILED


def test_removing_a_domain_is_audited(owner_client, org, add_domain):
    domain = add_domain(org, "acme.test")

    response = owner_client.post(delete_url(domain), follow=True)

    assert "acme.test was removed." in response.content.decode()
    assert not Domain.objects.filter(pk=domain.pk).exists()
    event = AuditEvent.objects.get(action="domain.removed")
    assert (event.actor, event.target, event.details) == (
        org.owner,
        "acme.test",
        {"status": "pending"},
    )


def test_admins_read_but_only_the_owner_changes_domains(client, org, add_domain):
    domain = add_domain(org, "acme.test")
    # Issue 20: viewers and members get 403 on every console page but home.
    client_for(client, make_member(org, "viewer"))
    assert client.get(LIST).status_code == 403
    for role in ("admin",):
        client_for(client, make_member(org, role))
        page = client.get(LIST)
        assert page.status_code == 200
        assert b"Add a domain" not in page.content
        assert b"_sso-console-challenge.acme.test" in page.content
        assert client.get(LIST, **JSON).json()[0]["id"] == domain.pk
        for url, data in (
            (LIST, {"domain": "other.test"}),
            (verify_url(domain), {}),
            (delete_url(domain), {}),
        ):
            response = client.post(url, data)
            assert response.status_code == 403, (role, url)
            assert b"Only the organization&#x27;s owner" in response.content
    assert list(Domain.objects.values_list("name", "check_requested_at")) == [
        ("acme.test", None)
    ]


def test_the_empty_page_says_what_to_do(owner_client, org):
    page = owner_client.get(LIST).content.decode()
    assert "No domains yet." in page
    assert "Add a domain" in page


@pytest.mark.parametrize("count", [3, 30])
def test_the_page_costs_a_constant_number_of_queries(
    owner_client, org, add_domain, count, django_assert_max_num_queries
):
    for n in range(count):
        add_domain(org, f"d{n}.acme.test")
    # session, user, membership, the org switcher, the domains.
    with django_assert_max_num_queries(5):
        response = owner_client.get(LIST)
    assert response.content.decode().count('class="card" id="domain-') == count
    with django_assert_max_num_queries(5):
        assert len(owner_client.get(LIST, **JSON).json()) == count


def test_the_page_query_count_does_not_grow_with_domains(owner_client, org, add_domain):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            owner_client.get(LIST)
        return len(ctx)

    for n in range(3):
        add_domain(org, f"d{n}.acme.test")
    few = queries()
    for n in range(3, 30):
        add_domain(org, f"d{n}.acme.test")
    assert queries() == few
