"""Django admin, for operators. Every field that a service owns is read-only
here: the admin never becomes a way around the services' rules."""

from django.contrib import admin

from connections.models import Connection, SignInEvent
from organizations.admin import ReadOnlyAdmin


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "provider", "health")
    exclude = ()


@admin.register(SignInEvent)
class SignInEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "outcome", "step", "reference")
