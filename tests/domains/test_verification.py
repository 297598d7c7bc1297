"""Domain verification against the real DNS server of tests/fixtures/dns.py."""

from __future__ import annotations

import pytest
from celery.exceptions import Retry

from domains import services as domain_services
from domains.models import Domain
from domains.services import (
    domain_record,
    org_has_verified_domain,
    verified_domain_org,
)
from domains.tasks import RETRY_DELAYS, domain_verify
from organizations.models import AuditEvent
from tests.factories import make_org


def actions(org, name):
    return list(
        AuditEvent.objects.filter(organization=org, target=name)
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )


def test_a_published_record_verifies_the_domain(org, add_domain, publish, run_check):
    domain = add_domain(org, "acme.test")
    publish(domain)

    domain = run_check(domain)

    assert domain.status == Domain.Status.VERIFIED
    assert domain.verified_at is not None and domain.last_checked_at is not None
    assert domain.detail == (
        "Verified: found the TXT record at _sso-console-challenge.acme.test."
    )
    assert actions(org, "acme.test") == ["domain.added", "domain.verified"]
    assert verified_domain_org("ACME.test.") == org
    assert org_has_verified_domain(org, "acme.test")


def test_each_domain_gets_its_own_random_token(org, add_domain):
    first = add_domain(org, "acme.test")
    second = add_domain(make_org("globex"), "acme.test")

    assert first.token != second.token
    assert len(first.token) >= 32
    assert domain_record(first) == (
        "_sso-console-challenge.acme.test",
        f"sso-console-verification={first.token}",
    )


def test_a_missing_name_fails_and_names_the_looked_up_name(
    org, add_domain, dns_zone, run_check
):
    domain = run_check(add_domain(org, "acme.test"))

    assert dns_zone.queries == ["_sso-console-challenge.acme.test"]
    assert domain.status == Domain.Status.FAILED
    assert "_sso-console-challenge.acme.test does not exist" in domain.detail
    assert actions(org, "acme.test") == ["domain.added", "domain.failed"]
    assert verified_domain_org("acme.test") is None


def test_a_name_without_txt_records_fails_and_names_it(
    org, add_domain, dns_zone, run_check
):
    domain = add_domain(org, "acme.test")
    dns_zone.set_a("_sso-console-challenge.acme.test", "192.0.2.1")

    domain = run_check(domain)

    assert domain.status == Domain.Status.FAILED
    assert "_sso-console-challenge.acme.test exists but has no TXT record" in (
        domain.detail
    )


def test_a_wrong_value_fails_and_says_what_was_found(
    org, add_domain, publish, run_check
):
    domain = add_domain(org, "acme.test")
    publish(domain, "sso-console-verification=not-the-token")

    domain = run_check(domain)

    assert domain.status == Domain.Status.FAILED
    assert 'Found: "sso-console-verification=not-the-token"' in domain.detail
    assert f"sso-console-verification={domain.token}" in domain.detail
    assert "_sso-console-challenge.acme.test" in domain.detail


def test_the_proof_among_several_txt_records_on_one_name_verifies(
    org, add_domain, publish, run_check
):
    domain = add_domain(org, "acme.test")
    _name, value = domain_record(domain)
    publish(domain, "v=spf1 -all", value, "google-site-verification=abc")

    assert run_check(domain).status == Domain.Status.VERIFIED


def test_a_record_split_into_several_strings_is_read_whole(
    org, add_domain, publish, run_check
):
    domain = add_domain(org, "acme.test")
    _name, value = domain_record(domain)
    publish(domain, (value[:10], value[10:]))

    assert run_check(domain).status == Domain.Status.VERIFIED


def test_a_quoted_value_is_accepted_but_a_longer_one_is_not(
    org, add_domain, publish, run_check
):
    quoted = add_domain(org, "quoted.test")
    publish(quoted, f'"{domain_record(quoted)[1]}"')
    longer = add_domain(org, "longer.test")
    publish(longer, domain_record(longer)[1] + "x")

    assert run_check(quoted).status == Domain.Status.VERIFIED
    assert run_check(longer).status == Domain.Status.FAILED


def test_several_wrong_values_are_quoted_up_to_a_limit(
    org, add_domain, publish, run_check
):
    domain = add_domain(org, "acme.test")
    publish(domain, *[f"value-{i}" for i in range(8)])

    domain = run_check(domain)

    assert "Found 8 TXT records" in domain.detail
    assert '"value-4", and 3 more' in domain.detail


@pytest.mark.parametrize("status", [Domain.Status.PENDING, Domain.Status.VERIFIED])
def test_a_dns_server_that_does_not_answer_keeps_the_status(
    org, add_domain, dns_zone, run_check, status
):
    domain = add_domain(org, "acme.test")
    Domain.objects.filter(pk=domain.pk).update(status=status)
    dns_zone.hang()

    domain = run_check(domain)

    assert domain.status == status
    assert domain.missing_checks == 0
    assert domain.detail.startswith(
        "No DNS server answered the look-up of _sso-console-challenge.acme.test"
    )
    assert dns_zone.queries  # it was asked, and kept silent
    assert actions(org, "acme.test") == ["domain.added"]


def test_a_failing_dns_server_keeps_the_status(org, add_domain, dns_zone, run_check):
    domain = add_domain(org, "acme.test")
    dns_zone.fail("_sso-console-challenge.acme.test", "SERVFAIL")

    domain = run_check(domain)

    assert domain.status == Domain.Status.PENDING
    assert "could not answer the look-up" in domain.detail


@pytest.mark.parametrize(
    ("retries", "countdown"), list(enumerate(RETRY_DELAYS)) + [(3, None)]
)
def test_a_worker_retries_dns_failures_with_growing_delays(
    org, add_domain, dns_zone, monkeypatch, retries, countdown
):
    domain = add_domain(org, "acme.test")
    # SERVFAIL answers at once; a timeout takes the same path, only slower.
    dns_zone.fail("_sso-console-challenge.acme.test", "SERVFAIL")
    asked = []

    def retry(*, countdown):
        asked.append(countdown)
        return Retry(when=countdown)

    monkeypatch.setattr(domain_verify, "retry", retry)
    # As a worker runs it: not eager, not called directly.
    domain_verify.push_request(
        id="t", retries=retries, is_eager=False, called_directly=False
    )
    try:
        if countdown is None:
            assert domain_verify.run(domain.pk) == Domain.Status.PENDING
        else:
            with pytest.raises(Retry):
                domain_verify.run(domain.pk)
    finally:
        domain_verify.pop_request()

    domain.refresh_from_db()
    assert asked == ([countdown] if countdown else [])
    assert domain.status == Domain.Status.PENDING
    if countdown is None:
        assert "Trying again" not in domain.detail
    else:
        assert "Trying again automatically in" in domain.detail
    assert RETRY_DELAYS == tuple(sorted(RETRY_DELAYS))


def test_a_check_of_a_removed_domain_exits_quietly(
    org, add_domain, dns_zone, run_check
):
    domain = add_domain(org, "acme.test")
    Domain.objects.filter(pk=domain.pk).delete()

    assert domain_verify.delay(domain.pk).get() is None
    assert dns_zone.queries == []


def test_a_pending_claim_elsewhere_does_not_block_verification(
    org, add_domain, publish, run_check
):
    globex = make_org("globex")
    theirs = add_domain(globex, "acme.test")
    ours = add_domain(org, "acme.test")
    publish(ours)

    assert run_check(ours).status == Domain.Status.VERIFIED
    theirs.refresh_from_db()
    assert theirs.status == Domain.Status.PENDING
    assert verified_domain_org("acme.test") == org


def test_verifying_a_domain_another_org_verified_meanwhile_fails_cleanly(
    org, add_domain, publish, run_check, monkeypatch
):
    globex = make_org("globex")
    theirs = add_domain(globex, "acme.test")
    ours = add_domain(org, "acme.test")
    publish(ours)
    real_lookup = domain_services.txt_lookup

    def lookup_while_globex_verifies(name):
        result = real_lookup(name)
        Domain.objects.filter(pk=theirs.pk).update(status=Domain.Status.VERIFIED)
        return result

    monkeypatch.setattr(domain_services, "txt_lookup", lookup_while_globex_verifies)

    ours = run_check(ours)

    assert ours.status == Domain.Status.FAILED
    assert ours.verified_at is None
    assert "already verified by another organization" in ours.detail
    assert verified_domain_org("acme.test") == globex
    event = AuditEvent.objects.get(organization=org, action="domain.failed")
    assert event.details == {
        "previous_status": "pending",
        "reason": "verified_elsewhere",
    }
    assert not AuditEvent.objects.filter(action="domain.verified").exists()
