"""Forms for inviting people and accepting an invitation."""

from typing import cast

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.forms import NewPasswordForm
from invitations.services import MAX_ADDRESSES
from rolemapping.models import Role


class InvitationAcceptForm(NewPasswordForm):
    """A password account for the invited address (before SSO is live)."""

    name = forms.CharField(label=_("Your name"), max_length=150, required=False)
    field_order = ["name", "password1", "password2"]

    def __init__(self, *args, email: str, **kwargs) -> None:
        self.email = email
        super().__init__(*args, **kwargs)

    def password_owner_email(self) -> str:
        return self.email


class InviteForm(forms.Form):
    """Contract fields ``emails`` and ``role``."""

    emails = forms.CharField(
        label=_("Email addresses"),
        widget=forms.Textarea(attrs={"rows": 6}),
        # Generous for 200 addresses; the service says how many are too many.
        max_length=MAX_ADDRESSES * 320,
        help_text=format_lazy(
            _("Up to {max}, separated by commas or new lines."), max=MAX_ADDRESSES
        ),
        error_messages={"required": _("Paste at least one email address.")},
    )
    role = forms.ChoiceField(
        label=_("Role"),
        error_messages={
            "invalid_choice": _(
                "Choose admin, member or viewer; the owner role is never given by "
                "invitation."
            )
        },
    )

    def __init__(self, *args, roles: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["role"]).choices = roles
        self.fields["role"].initial = Role.Slug.MEMBER
