"""Django admin, for support staff: invitations, read-only.

Invitations are created, re-sent and revoked by the organization's admins in
the console (``invitations.services``). The token's digest is never shown: it
is not a secret by itself, but nothing a person does in support needs it.
"""

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invitations.models import Invitation
from organizations.admin import ReadOnlyAdmin

_STATE_LABELS = {
    "pending": _("Pending"),
    "expired": _("Expired"),
    "accepted": _("Accepted"),
    "revoked": _("Revoked"),
}


class StateFilter(admin.SimpleListFilter):
    """Invitation.state, as a query (the model computes it per row)."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return list(_STATE_LABELS.items())

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        condition = self._conditions().get(self.value() or "")
        return queryset.filter(condition) if condition is not None else queryset

    @staticmethod
    def _conditions() -> dict[str, Q]:
        now = timezone.now()
        open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
        return {
            "pending": open_ & Q(expires_at__gt=now),
            "expired": open_ & Q(expires_at__lte=now),
            "accepted": Q(accepted_at__isnull=False),
            "revoked": Q(accepted_at__isnull=True, revoked_at__isnull=False),
        }


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = (
        "email",
        "organization",
        "role",
        "state",
        "invited_by",
        "created_at",
        "expires_at",
        "send_count",
    )
    list_filter = (StateFilter, "created_at")
    list_select_related = ("organization", "role", "invited_by")
    search_fields = ("email", "organization__name", "=organization__login_path")
    search_help_text = _(
        "The invited email address, or the organization's name or login path (exact)."
    )
    fields = (
        "organization",
        "email",
        "role",
        "state",
        "invited_by",
        "created_at",
        "expires_at",
        "last_sent_at",
        "send_count",
        "accepted_at",
        "accepted_by",
        "revoked_at",
        "expired_marked_at",
    )
    readonly_fields = fields
