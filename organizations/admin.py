"""Django admin, for operators. Every field that a service owns is read-only
here: the admin never becomes a way around the services' rules."""

from django.contrib import admin

from organizations.models import AuditEvent, Organization


class ReadOnlyAdmin(admin.ModelAdmin):
    """Support staff read; changes go through the services (and their audit)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(ReadOnlyAdmin):
    list_display = ("name", "login_path", "sso_enforced", "created_at")
    search_fields = ("name", "login_path")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "actor", "action", "target")
