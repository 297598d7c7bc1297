"""Django admin, for operators. Every field that a service owns is read-only
here: the admin never becomes a way around the services' rules."""

from django.contrib import admin

from accounts.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "is_active", "is_staff", "date_joined")
    search_fields = ("email",)
    fields = ("email", "name", "is_active", "is_staff", "date_joined", "last_login")
    readonly_fields = ("email", "date_joined", "last_login")
