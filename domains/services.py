"""Email domains: add one, prove it over DNS, keep the proof true, remove it.

An organization proves it controls a domain by publishing a TXT record whose
value carries the domain's random token. A check (a Celery task, see
connections/tasks/domains.py) looks the record up and records the result here.
A verified domain is re-checked daily; it stays verified through
MISSES_BEFORE_FAILING - 1 checks that miss the record (so SSO keeps working
while someone fixes their DNS) and fails on the next one, emailing the owner.
A DNS failure or timeout proves nothing either way: it keeps the status.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connections, transaction
from django.db.models import Field
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from domains.dns import TxtLookup, txt_lookup
from domains.models import Domain
from domains.names import (
    DomainNameError,
    check_domain_allowed,
    normalize_domain,
    verification_record,
)
from organizations.broker import task_publish
from organizations.errors import ServiceError
from organizations.mail import email_enqueue
from organizations.models import Organization, OutboundEmail
from organizations.services import audit, require_perm
from rolemapping.models import Membership

MISSES_BEFORE_FAILING: Final = 3
# A requested check that has not reported back by then is presumed lost (a
# worker died); the page stops showing it as running and allows a new one.
CHECK_STALE_AFTER: Final = timedelta(minutes=5)
MAX_DOMAINS_PER_ORG: Final = 100
# The outbox's name for the "no longer verified" email (organizations.mail).
DOMAIN_FAILED_EMAIL_KIND: Final = "domain_failed"
# How much of what DNS returned a detail quotes back.
_SHOWN_VALUES: Final = 5
_SHOWN_VALUE_LENGTH: Final = 100

Status = Domain.Status

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class DomainCheckResult:
    """What one check found. ``retry`` is true for DNS failures and timeouts."""

    status: str
    outcome: str
    detail: str
    retry: bool = False


# -- reads --------------------------------------------------------------------


def verified_domain_org(domain_name: str) -> Organization | None:
    """The organization that has ``domain_name`` verified, or None (one query).

    Domains in the grace period after their record disappeared are still
    verified, so sign-in routing keeps working until the last missed check.
    """
    name = _canonical(domain_name)
    if name is None:
        return None
    try:
        domain = Domain.objects.select_related("organization").get(
            name=name, status=Status.VERIFIED
        )
    except Domain.DoesNotExist:
        return None
    return domain.organization


def org_has_verified_domain(
    org: Organization, domain_name: str, *, lock: bool = False
) -> bool:
    """Whether ``org`` has ``domain_name`` verified (grace period included).

    With ``lock`` (a sign-in, inside its transaction) the row is read ``FOR
    SHARE`` on PostgreSQL, and held until the transaction ends: a change of
    the domain's state (which locks it ``FOR UPDATE``) waits for sign-ins
    under way, and a sign-in that comes during a change waits for it and
    reads the new state, so none is let in by a state read just before the
    change committed. Sign-ins share the lock. On SQLite a writing transaction
    excludes every other (``transaction_mode`` IMMEDIATE), so a plain read is
    already inside that order.
    """
    name = _canonical(domain_name)
    if name is None:
        return False
    rows = Domain.objects.filter(organization=org, name=name, status=Status.VERIFIED)
    if lock and connections[rows.db].vendor == "postgresql":
        return _exists_for_share(rows.db, org.pk, name)
    return rows.exists()


def _exists_for_share(using: str, org_id: int, name: str) -> bool:
    """``org_has_verified_domain`` under ``FOR SHARE``, which the ORM does not
    write (it has ``select_for_update`` only); one query."""
    connection = connections[using]
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        field = Domain._meta.get_field(name)
        assert isinstance(field, Field)
        return quote(field.column)

    sql = (
        f"SELECT 1 FROM {quote(Domain._meta.db_table)}"  # noqa: S608 (names only)
        f" WHERE {column('organization')} = %s AND {column('name')} = %s"
        f" AND {column('status')} = %s FOR SHARE"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [org_id, name, Status.VERIFIED.value])
        return cursor.fetchone() is not None


def domains_for_org(org: Organization) -> list[Domain]:
    """The organization's domains by name, in one query."""
    return list(Domain.objects.filter(organization=org).order_by("name", "id"))


def domain_record(domain: Domain) -> tuple[str, str]:
    """The (name, value) of the TXT record that proves ``domain``."""
    return verification_record(domain.name, domain.token)


def domain_is_checking(domain: Domain, now: datetime | None = None) -> bool:
    """Whether a check someone asked for has not reported back yet."""
    if domain.check_requested_at is None:
        return False
    return (now or timezone.now()) - domain.check_requested_at < CHECK_STALE_AFTER


def domain_checks_expire(
    *, organization_id: int | None = None, domain_id: int | None = None
) -> int:
    """End the checks asked for CHECK_STALE_AFTER ago or more that never
    reported (no worker took them, or it died): the domain keeps its status,
    says the check failed and why, and "Verify now" tries again. Returns how
    many. Idempotent: a conditional update, so a check that reports
    meanwhile keeps its own result, and a second call changes nothing.

    Called where domains are read, so a page never shows "Checking" past it.
    One query.
    """
    cutoff = timezone.now() - CHECK_STALE_AFTER
    rows = Domain.objects.filter(check_requested_at__lt=cutoff)
    if organization_id is not None:
        rows = rows.filter(organization_id=organization_id)
    if domain_id is not None:
        rows = rows.filter(pk=domain_id)
    return rows.update(check_requested_at=None, detail=check_lost_sentence())


def check_lost_sentence() -> str:
    """What a domain says when the check asked for never reported back."""
    minutes = round(CHECK_STALE_AFTER.total_seconds() / 60)
    return _(
        "The check failed: no task worker ran it within %(minutes)d minutes. "
        "Make sure a Celery worker is running (celery -A config worker), then "
        "choose Verify now to try again."
    ) % {"minutes": minutes}


# -- actions by people ------------------------------------------------------------


@transaction.atomic
def domain_add(
    *, actor_membership: Membership, name: str, ip: str | None = None
) -> Domain:
    """Add a domain to the organization, pending until its TXT record is seen."""
    require_perm(actor_membership, "domains.manage")
    org = actor_membership.organization
    try:
        domain_name = normalize_domain(name or "")
        check_domain_allowed(domain_name)
    except DomainNameError as exc:
        raise ServiceError(str(exc), code=exc.code) from None
    existing = Domain.objects.filter(name=domain_name).values_list(
        "organization_id", "status"
    )
    for organization_id, status in existing:
        if organization_id == org.pk:
            raise ServiceError(
                _("%(domain)s is already on this organization's list; verify it there.")
                % {"domain": domain_name},
                code="domain_already_added",
            )
        if status == Status.VERIFIED:
            # Saying so reveals only that someone verified it, which the DNS
            # record shows anyone who looks.
            raise ServiceError(
                _(
                    "%(domain)s is already verified by another organization. A "
                    "domain can be verified by one organization at a time; if it "
                    "belongs to yours, ask whoever manages that organization to "
                    "remove it first."
                )
                % {"domain": domain_name},
                code="domain_verified_elsewhere",
            )
    if Domain.objects.filter(organization=org).count() >= MAX_DOMAINS_PER_ORG:
        raise ServiceError(
            _(
                "An organization can have at most %(max)d domains; remove ones you "
                "no longer use first."
            )
            % {"max": MAX_DOMAINS_PER_ORG},
            code="domain_limit",
        )
    try:
        with transaction.atomic():
            domain = Domain.objects.create(
                organization=org, name=domain_name, token=secrets.token_urlsafe(24)
            )
    except IntegrityError:  # the same domain added twice at once
        raise ServiceError(
            _("%(domain)s was just added to this organization; reload the page.")
            % {"domain": domain_name},
            code="domain_conflict",
        ) from None
    audit(
        action="domain.added",
        organization=org,
        actor=actor_membership.user,
        target=domain.name,
        ip=ip,
    )
    return domain


@transaction.atomic
def domain_request_check(
    *, actor_membership: Membership, domain: Domain, ip: str | None = None
) -> bool:
    """Queue a DNS check of ``domain``; False when one is already running."""
    require_perm(actor_membership, "domains.manage")
    domain = _locked(domain.pk, actor_membership.organization)
    now = timezone.now()
    if domain_is_checking(domain, now):
        return False
    domain.check_requested_at = now
    domain.save(update_fields=["check_requested_at"])
    audit(
        action="domain.check_requested",
        organization=domain.organization,
        actor=actor_membership.user,
        target=domain.name,
        ip=ip,
    )
    domain_id, user_id = domain.pk, actor_membership.user_id
    transaction.on_commit(lambda: _queue_check(domain_id, user_id))
    return True


@transaction.atomic
def domain_remove(
    *, actor_membership: Membership, domain: Domain, ip: str | None = None
) -> None:
    """Remove a domain; sign-ins for it stop routing to this organization."""
    require_perm(actor_membership, "domains.manage")
    domain = _locked(domain.pk, actor_membership.organization)
    audit(
        action="domain.removed",
        organization=domain.organization,
        actor=actor_membership.user,
        target=domain.name,
        details={"status": domain.status},
        ip=ip,
    )
    domain.delete()


# -- the check (called by the task) ---------------------------------------------


def domain_check(
    *,
    domain_id: int,
    actor_id: int | None = None,
    retry_in: int | None = None,
) -> DomainCheckResult | None:
    """Look up the domain's TXT record and record what was found.

    Returns None when the domain is gone. ``retry_in`` (seconds) is when the
    caller will try again after a DNS failure; the detail says so.
    """
    domain = Domain.objects.filter(pk=domain_id).only("name", "token").first()
    if domain is None:
        return None
    txt_name, expected = domain_record(domain)
    # The look-up takes up to the DNS timeout; no transaction or row lock is
    # held meanwhile. The row is re-read and locked to record the result.
    lookup = txt_lookup(txt_name)
    return _domain_record_result(
        domain_id=domain_id,
        lookup=lookup,
        txt_name=txt_name,
        expected=expected,
        actor_id=actor_id,
        retry_in=retry_in,
    )


@transaction.atomic
def _domain_record_result(
    *,
    domain_id: int,
    lookup: TxtLookup,
    txt_name: str,
    expected: str,
    actor_id: int | None,
    retry_in: int | None,
) -> DomainCheckResult | None:
    domain = (
        Domain.objects.select_for_update(of=("self",))
        .select_related("organization")
        .filter(pk=domain_id)
        .first()
    )
    if domain is None:
        return None
    users = get_user_model().objects
    actor = users.filter(pk=actor_id).first() if actor_id else None
    previous = domain.status
    domain.last_checked_at = timezone.now()
    domain.check_requested_at = None

    if lookup.outcome not in ("found", "nxdomain", "no_answer"):
        # Timeouts and server failures prove nothing: keep the status.
        detail = lookup.detail
        if retry_in:
            detail += " " + _retry_note(retry_in)
        domain.detail = detail
        domain.save(update_fields=["last_checked_at", "check_requested_at", "detail"])
        return DomainCheckResult(
            status=previous, outcome=lookup.outcome, detail=detail, retry=True
        )

    if any(_matches(value, expected) for value in lookup.values):
        return _record_found(domain, previous, txt_name, actor)
    return _record_missing(domain, previous, lookup, txt_name, expected, actor)


def _record_found(
    domain: Domain, previous: str, txt_name: str, actor: User | None
) -> DomainCheckResult:
    org = domain.organization
    fields = ["last_checked_at", "check_requested_at", "detail", "missing_checks"]
    if previous == Status.VERIFIED:
        if domain.missing_checks:
            audit(
                action="domain.record_restored",
                organization=org,
                actor=actor,
                target=domain.name,
                details={"missed_checks": domain.missing_checks},
            )
        domain.missing_checks = 0
        domain.detail = _("The TXT record at %(name)s is in place.") % {
            "name": txt_name
        }
        domain.save(update_fields=fields)
        return DomainCheckResult(
            status=Status.VERIFIED, outcome="found", detail=domain.detail
        )

    domain.status = Status.VERIFIED
    domain.verified_at = domain.last_checked_at
    domain.missing_checks = 0
    domain.detail = _("Verified: found the TXT record at %(name)s.") % {
        "name": txt_name
    }
    try:
        with transaction.atomic():
            domain.save(update_fields=[*fields, "status", "verified_at"])
    except IntegrityError:
        # Another organization has it verified (perhaps since this check
        # began): the partial unique constraint is the one arbiter, races
        # included, so there is no separate look first.
        conflict = True
    else:
        conflict = False
    if conflict:
        domain.status = Status.FAILED
        domain.verified_at = None
        domain.detail = _(
            "The TXT record at %(name)s is correct, but %(domain)s is already "
            "verified by another organization, and a domain can be verified by "
            "one organization at a time. Ask whoever manages that organization to "
            "remove it, then verify again."
        ) % {"name": txt_name, "domain": domain.name}
        domain.save(update_fields=[*fields, "status", "verified_at"])
        _audit_failed(domain, previous, actor, reason="verified_elsewhere")
        return DomainCheckResult(
            status=domain.status, outcome="found", detail=domain.detail
        )
    audit(
        action="domain.verified",
        organization=org,
        actor=actor,
        target=domain.name,
        details={"previous_status": previous},
    )
    return DomainCheckResult(
        status=domain.status, outcome="found", detail=domain.detail
    )


def _record_missing(
    domain: Domain,
    previous: str,
    lookup: TxtLookup,
    txt_name: str,
    expected: str,
    actor: User | None,
) -> DomainCheckResult:
    if lookup.outcome == "found":
        reason = "wrong_value"
        detail = ngettext(
            "Found %(count)d TXT record at %(name)s, but it does not have the value "
            '"%(expected)s". Found: %(found)s. Check the value for typos or extra '
            "characters.",
            "Found %(count)d TXT records at %(name)s, but none has the value "
            '"%(expected)s". Found: %(found)s. Check the value for typos or extra '
            "characters.",
            len(lookup.values),
        ) % {
            "count": len(lookup.values),
            "name": txt_name,
            "expected": expected,
            "found": _found_values(lookup.values),
        }
    else:
        reason = lookup.outcome
        detail = lookup.detail
    fields = ["last_checked_at", "check_requested_at", "detail", "missing_checks"]

    if previous == Status.VERIFIED:
        domain.missing_checks += 1
        if domain.missing_checks < MISSES_BEFORE_FAILING:
            domain.detail = _(
                "%(detail)s Missed checks in a row: %(missed)d of %(max)d. The "
                "domain stays verified, and single sign-on keeps working, until "
                "the record has been missing for %(max)d checks; put it back "
                "before then."
            ) % {
                "detail": detail,
                "missed": domain.missing_checks,
                "max": MISSES_BEFORE_FAILING,
            }
            domain.save(update_fields=fields)
            audit(
                action="domain.record_missing",
                organization=domain.organization,
                actor=actor,
                target=domain.name,
                details={
                    "missing_checks": domain.missing_checks,
                    "fails_at": MISSES_BEFORE_FAILING,
                    "reason": reason,
                },
            )
            return DomainCheckResult(
                status=Status.VERIFIED, outcome=lookup.outcome, detail=domain.detail
            )
        domain.detail = _(
            "%(detail)s The record was missing for %(missed)d checks in a row, so "
            "the domain is no longer verified and sign-ins with its email "
            "addresses no longer use your single sign-on. Put the record back, "
            "then verify again."
        ) % {"detail": detail, "missed": domain.missing_checks}
        domain.status = Status.FAILED
        domain.save(update_fields=[*fields, "status"])
        _audit_failed(domain, previous, actor, reason=reason)
        _email_owner_domain_failed(domain)
        return DomainCheckResult(
            status=domain.status, outcome=lookup.outcome, detail=domain.detail
        )

    domain.status = Status.FAILED
    domain.missing_checks = 0
    domain.detail = detail
    domain.save(update_fields=[*fields, "status"])
    _audit_failed(domain, previous, actor, reason=reason)
    return DomainCheckResult(
        status=domain.status, outcome=lookup.outcome, detail=domain.detail
    )


def _audit_failed(
    domain: Domain, previous: str, actor: User | None, *, reason: str
) -> None:
    if previous == Status.FAILED:
        return  # no change to tell; the detail on the page has the latest
    audit(
        action="domain.failed",
        organization=domain.organization,
        actor=actor,
        target=domain.name,
        details={"previous_status": previous, "reason": reason},
    )


# -- side effects -------------------------------------------------------------------


def _queue_check(domain_id: int, user_id: int | None) -> None:
    from domains.tasks import domain_verify

    if not task_publish(domain_verify, domain_id, requested_by_id=user_id):
        # The broker is down: say so instead of "checking" forever.
        Domain.objects.filter(pk=domain_id).update(
            check_requested_at=None, detail=check_not_queued_sentence()
        )


def check_not_queued_sentence() -> str:
    """What a domain says when its check could not be handed to the worker."""
    return _(
        "The check could not be queued: the task queue (broker) is not reachable. "
        "Try again when it is back."
    )


def _email_owner_domain_failed(domain: Domain) -> None:
    """Tell the owner, through the outbox, that the domain stopped being
    verified; written with the change, sent once it commits."""
    org = (
        Organization.objects.select_related("owner")
        .only("name", "login_path", "owner__email")
        .get(pk=domain.organization_id)
    )
    txt_name, _txt_value = domain_record(domain)
    context = {
        "organization": org,
        "domain": domain,
        "txt_name": txt_name,
        "misses": MISSES_BEFORE_FAILING,
        "domains_url": getattr(settings, "SITE_URL", "")
        + reverse("domain_list", args=[org.login_path]),
    }
    email_enqueue(
        to=org.owner.email,
        subject=_("%(domain)s is no longer verified for %(organization)s")
        % {"domain": domain.name, "organization": org.name},
        text=render_to_string("domains/email/domain_failed.txt", context),
        html=render_to_string("domains/email/domain_failed.html", context),
        kind=DOMAIN_FAILED_EMAIL_KIND,
        organization=org,
        ref={"domain_id": domain.pk},
    )


def domain_failed_email_wanted(email: OutboundEmail) -> bool:
    """Asked by the outbox before sending: the domain is still failed."""
    return Domain.objects.filter(
        pk=email.ref.get("domain_id"), status=Status.FAILED
    ).exists()


# -- helpers --------------------------------------------------------------------------


def _locked(domain_id: int, org: Organization) -> Domain:
    domain = (
        Domain.objects.select_for_update(of=("self",))
        .select_related("organization")
        .filter(pk=domain_id, organization=org)
        .first()
    )
    if domain is None:
        raise ServiceError(
            _("That domain is no longer on this organization's list."),
            code="domain_gone",
        )
    return domain


def _canonical(domain_name: str) -> str | None:
    try:
        return normalize_domain(domain_name or "")
    except DomainNameError:
        return None


def _matches(found: str, expected: str) -> bool:
    # DNS panels differ in whether they want the value quoted; some store the
    # quotes literally. The token itself must match exactly.
    value = found.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    return value == expected


def _found_values(values: list[str]) -> str:
    shown = []
    for value in values[:_SHOWN_VALUES]:
        text = "".join(ch if ch.isprintable() else "?" for ch in value)
        if len(text) > _SHOWN_VALUE_LENGTH:
            text = text[: _SHOWN_VALUE_LENGTH - 1] + "…"
        shown.append(f'"{text}"')
    if len(values) > _SHOWN_VALUES:
        shown.append(_("and %(count)d more") % {"count": len(values) - _SHOWN_VALUES})
    return ", ".join(shown)


def _retry_note(seconds: int) -> str:
    if seconds < 120:
        return ngettext(
            "Trying again automatically in %(count)d second.",
            "Trying again automatically in %(count)d seconds.",
            seconds,
        ) % {"count": seconds}
    minutes = seconds // 60
    return ngettext(
        "Trying again automatically in %(count)d minute.",
        "Trying again automatically in %(count)d minutes.",
        minutes,
    ) % {"count": minutes}
