"""The daily re-check keeps verified domains true: three misses in a row fail one."""

from __future__ import annotations

import pytest
from django.core import mail

from domains.models import Domain
from domains.services import org_has_verified_domain, verified_domain_org
from domains.tasks import domains_recheck_all
from organizations.models import AuditEvent, OutboundEmail


@pytest.fixture
def recheck(django_capture_on_commit_callbacks):
    """One run of the beat task, side effects (tasks, email) executed."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return domains_recheck_all.delay().get()

    return run


@pytest.fixture
def verified(org, add_domain, publish, run_check):
    domain = add_domain(org, "acme.test")
    publish(domain)
    domain = run_check(domain)
    assert domain.status == Domain.Status.VERIFIED
    return domain


def test_a_record_gone_for_three_checks_fails_the_domain_and_emails_the_owner(
    org, verified, dns_zone, recheck
):
    dns_zone.remove("_sso-console-challenge.acme.test")

    for missed in (1, 2):
        recheck()
        verified.refresh_from_db()
        # The grace period: still verified, and SSO routing still finds the org.
        assert verified.status == Domain.Status.VERIFIED
        assert verified.missing_checks == missed
        assert f"Missed checks in a row: {missed} of 3" in verified.detail
        assert verified_domain_org("acme.test") == org
        assert mail.outbox == []

    recheck()
    verified.refresh_from_db()

    assert verified.status == Domain.Status.FAILED
    assert verified.missing_checks == 3
    assert "no longer verified" in verified.detail
    assert verified_domain_org("acme.test") is None
    assert not org_has_verified_domain(org, "acme.test")
    failed = AuditEvent.objects.get(organization=org, action="domain.failed")
    assert failed.actor is None
    assert failed.details == {"previous_status": "verified", "reason": "nxdomain"}
    assert AuditEvent.objects.filter(action="domain.record_missing").count() == 2

    (email,) = mail.outbox
    assert email.to == [org.owner.email]
    assert email.subject == "acme.test is no longer verified for Acme Inc"
    assert "_sso-console-challenge.acme.test" in email.body
    assert "http://testserver/orgs/acme/domains/" in email.body
    assert verified.token not in email.body
    html, _mime = email.alternatives[0]
    assert "acme.test" in html and verified.token not in html
    # Through the outbox, written with the failure and sent once it committed.
    assert list(OutboundEmail.objects.values_list("kind", "status")) == [
        ("domain_failed", "sent")
    ]


def test_a_record_back_after_a_miss_resets_the_count(
    org, verified, dns_zone, publish, recheck
):
    dns_zone.remove("_sso-console-challenge.acme.test")
    recheck()
    recheck()
    publish(verified)
    recheck()
    verified.refresh_from_db()
    assert verified.status == Domain.Status.VERIFIED
    assert verified.missing_checks == 0
    assert AuditEvent.objects.filter(action="domain.record_restored").count() == 1

    dns_zone.remove("_sso-console-challenge.acme.test")
    recheck()
    verified.refresh_from_db()
    assert verified.status == Domain.Status.VERIFIED
    assert verified.missing_checks == 1


def test_a_wrong_value_counts_as_a_miss(org, verified, publish, recheck):
    publish(verified, "sso-console-verification=someone-else")
    for _ in range(3):
        recheck()
    verified.refresh_from_db()
    assert verified.status == Domain.Status.FAILED
    assert 'Found: "sso-console-verification=someone-else"' in verified.detail


def test_dns_timeouts_are_not_misses(org, verified, dns_zone, recheck):
    dns_zone.hang()
    for _ in range(3):
        recheck()
    verified.refresh_from_db()
    assert verified.status == Domain.Status.VERIFIED
    assert verified.missing_checks == 0
    assert mail.outbox == []


def test_the_recheck_covers_only_verified_domains(
    org, verified, add_domain, dns_zone, recheck
):
    add_domain(org, "pending.test")
    failed = add_domain(org, "failed.test")
    Domain.objects.filter(pk=failed.pk).update(status=Domain.Status.FAILED)
    dns_zone.reset()

    assert recheck() == 1
    assert dns_zone.queries == ["_sso-console-challenge.acme.test"]
