"""Domain verification tasks: transport only; the rules live in
connections/services/domains.py."""

from __future__ import annotations

from typing import Final

from celery import shared_task

from domains.models import Domain
from domains.services import domain_check

__all__ = ["domain_verify", "domains_recheck_all"]

# Seconds before each retry after a DNS failure or timeout: a resolver hiccup
# clears in seconds, a broken DNS host in minutes.
RETRY_DELAYS: Final = (30, 120, 600)


@shared_task(
    bind=True,
    name="domains.tasks.domain_verify",
    max_retries=len(RETRY_DELAYS),
    soft_time_limit=20,
    time_limit=30,
    acks_late=True,
)
def domain_verify(
    self, domain_id: int, requested_by_id: int | None = None
) -> str | None:
    """Check one domain's TXT record; retry later when DNS fails or times out.

    Returns the domain's status, or None when the domain is gone.
    """
    retries = self.request.retries or 0
    # In-process runs (no broker) would retry at once and block the request
    # that asked, so only a real worker retries; it waits longer each time.
    can_retry = (
        not self.request.is_eager
        and not self.request.called_directly
        and retries < len(RETRY_DELAYS)
    )
    retry_in = RETRY_DELAYS[retries] if can_retry else None
    result = domain_check(
        domain_id=domain_id, actor_id=requested_by_id, retry_in=retry_in
    )
    if result is None:
        return None
    if result.retry and retry_in is not None:
        raise self.retry(countdown=retry_in)
    return result.status


@shared_task(
    name="domains.tasks.domains_recheck_all", soft_time_limit=50, time_limit=60
)
def domains_recheck_all() -> int:
    """Beat, daily: queue a re-check of every verified domain. Returns how many."""
    domain_ids = list(
        Domain.objects.filter(status=Domain.Status.VERIFIED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for domain_id in domain_ids:
        domain_verify.delay(domain_id)
    return len(domain_ids)
