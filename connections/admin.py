"""Django admin, for operators. Every field that a service owns is read-only
here: the admin never becomes a way around the services' rules."""

from django.contrib import admin

from .models import AuditEvent, Connection, Domain, Organization, SignInEvent, User


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "is_active", "is_staff", "date_joined")
    search_fields = ("email",)
    fields = ("email", "name", "is_active", "is_staff", "date_joined", "last_login")
    readonly_fields = ("email", "date_joined", "last_login")


@admin.register(Organization)
class OrganizationAdmin(ReadOnlyAdmin):
    list_display = ("name", "login_path", "sso_enforced", "created_at")
    search_fields = ("name", "login_path")


@admin.register(Domain)
class DomainAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "status", "last_checked_at")


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "provider", "health")
    exclude = ()


@admin.register(SignInEvent)
class SignInEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "outcome", "step", "reference")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "actor", "action", "target")
