"""Fixtures for the domain tests: owners' memberships, domains added through the
service, and a check run the way the console runs it (the Celery task, with
on-commit side effects executed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from domains.models import Domain
from domains.services import domain_add, domain_record
from domains.tasks import domain_verify
from organizations.models import Organization
from rolemapping.models import Membership


def owner_membership(org: Organization) -> Membership:
    return Membership.objects.select_related("organization", "role", "user").get(
        organization=org, user=org.owner
    )


@pytest.fixture
def add_domain() -> Callable[..., Domain]:
    def add(org: Organization, name: str) -> Domain:
        return domain_add(actor_membership=owner_membership(org), name=name)

    return add


@pytest.fixture
def dns_zone(dns, settings):
    """The test DNS server, with a short timeout so "no answer" tests stay fast."""
    settings.DNS_TIMEOUT = 0.4
    return dns


@pytest.fixture
def publish(dns_zone) -> Callable[..., None]:
    """Publish a domain's proof (or other values) at its TXT record name."""

    def run(domain: Domain, *values: str | tuple[str, ...]) -> None:
        txt_name, txt_value = domain_record(domain)
        dns_zone.set_txt(txt_name, *(values or (txt_value,)))

    return run


@pytest.fixture
def run_check(django_capture_on_commit_callbacks) -> Callable[[Domain], Domain]:
    """Run the verification task on a domain and return the re-read row."""

    def run(domain: Domain) -> Domain:
        with django_capture_on_commit_callbacks(execute=True):
            domain_verify.delay(domain.pk)
        return Domain.objects.get(pk=domain.pk)

    return run


@pytest.fixture(scope="session")
def _worker_dns_env(dns_server) -> Iterator[str]:
    """Point a worker started from now on at the test DNS server, never elsewhere."""
    before = os.environ.get("DNS_NAMESERVERS")
    os.environ["DNS_NAMESERVERS"] = dns_server.nameserver
    yield dns_server.nameserver
    if before is None:
        os.environ.pop("DNS_NAMESERVERS", None)
    else:
        os.environ["DNS_NAMESERVERS"] = before


@pytest.fixture(scope="session")
def celery_worker_process(_worker_dns_env, celery_worker_process):
    """The shared worker, refused unless it resolves against the test DNS server.

    A worker without DNS_NAMESERVERS would ask the system resolver, that is,
    send the test's look-ups off this machine.
    """
    environ = Path(f"/proc/{celery_worker_process['pid']}/environ").read_bytes()
    expected = f"DNS_NAMESERVERS={_worker_dns_env}".encode()
    if expected not in environ.split(b"\0"):
        pytest.fail(
            "The Celery worker was started without DNS_NAMESERVERS pointing at the "
            "test DNS server; start it with the dns_server fixture's address."
        )
    return celery_worker_process
