"""``{{ code|status_label }}``: a status or state code as a word people read.

Pages showed these codes through ``capfirst`` or a model's choice label, and
neither is translated (marking choice labels is a migration). The codes are
those of checks and their steps, domains, invitations, connections' health
and sign-in events; an unknown one is shown as it is, capitalised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import template
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

register = template.Library()

STATUS_LABELS: dict[str, StrOrPromise] = {
    "queued": _("Queued"),
    "running": _("Running"),
    "passed": _("Passed"),
    "failed": _("Failed"),
    "warning": _("Warning"),
    "skipped": _("Skipped"),
    "pending": _("Pending"),
    "accepted": _("Accepted"),
    "expired": _("Expired"),
    "revoked": _("Revoked"),
    "verified": _("Verified"),
    "success": _("Success"),
    "failure": _("Failure"),
    "unknown": _("Unknown"),
    "passing": _("Passing"),
    "failing": _("Failing"),
}


@register.filter
def status_label(code: object) -> StrOrPromise:
    text = str(code or "")
    return STATUS_LABELS.get(text) or capfirst(text)
