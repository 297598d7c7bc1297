"""Django admin, for operators. Every field that a service owns is read-only
here: the admin never becomes a way around the services' rules."""

from django.contrib import admin

from domains.models import Domain
from organizations.admin import ReadOnlyAdmin


@admin.register(Domain)
class DomainAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "status", "last_checked_at")
