"""Reads for the console's organization pages. Each costs a constant number of
queries."""

from __future__ import annotations

from django.core.paginator import Page, Paginator

from organizations.models import AuditEvent, Organization


def audit_page(org: Organization, number: int, size: int) -> Page[AuditEvent]:
    events = AuditEvent.objects.filter(organization=org).select_related("actor")
    return Paginator(events, size).get_page(number)
