"""Django admin, for support staff: people, read-only.

Nothing here writes: marking someone inactive or granting staff status would be
an unaudited change, and no service does either yet. The password hash, groups
and permissions are not shown.
"""

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from organizations.admin import ReadOnlyAdmin, changelist_link

_USER_LISTS = (
    ("admin:rolemapping_membership_changelist", _("Memberships"), "user__id__exact"),
    (
        "admin:connections_ssoidentity_changelist",
        _("SSO identities"),
        "user__id__exact",
    ),
    ("admin:organizations_auditevent_changelist", _("Audit rows"), "actor__id__exact"),
)


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ("email", "name", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("email", "name")
    search_help_text = _("Email address or name.")
    fields = (
        "email",
        "name",
        "is_active",
        "is_staff",
        "is_superuser",
        "date_joined",
        "last_login",
        "lists",
    )
    readonly_fields = fields

    @admin.display(description=_("Look up"))
    def lists(self, obj: User) -> str:
        return format_html_join(
            " · ",
            "{}",
            (
                (changelist_link(name, label, **{field: obj.pk}),)
                for name, label, field in _USER_LISTS
            ),
        )
