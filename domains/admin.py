"""Django admin, for support staff: email domains, read-only.

A domain is added, checked and removed by the organization's owner in the
console (``domains.services``); its status only ever changes through a DNS
check, so nothing here writes.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from domains.models import Domain
from organizations.admin import ReadOnlyAdmin


@admin.register(Domain)
class DomainAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "organization",
        "status",
        "last_checked_at",
        "verified_at",
        "missing_checks",
    )
    list_filter = ("status", "last_checked_at", "verified_at")
    list_select_related = ("organization",)
    search_fields = ("name", "organization__name", "=organization__login_path")
    search_help_text = _(
        "The domain, or the organization's name or login path (exact)."
    )
    fields = (
        "organization",
        "name",
        "status",
        "detail",
        # The TXT value the owner publishes in DNS: public by design.
        "token",
        "last_checked_at",
        "check_requested_at",
        "verified_at",
        "missing_checks",
        "created_at",
    )
    readonly_fields = fields
