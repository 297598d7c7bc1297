"""Forms of the role-mapping page. They validate shapes; the services decide."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from rolemapping.models import Role

ROLE_CHOICE_ERROR = _(
    "Choose admin, member or viewer. The owner role is never granted by the "
    "identity provider."
)


def _role_choices(roles: Sequence[Role]) -> list[tuple[str, str]]:
    # The owner role is never offered: the IdP cannot grant it.
    return [(r.slug, r.name) for r in roles if r.slug != Role.Slug.OWNER]


class MappingForm(forms.Form):
    """Map one IdP group (contract fields ``idp_group`` and ``role``)."""

    idp_group = forms.CharField(
        label=_("IdP group"),
        max_length=255,
        help_text=_(
            "Exactly as the IdP sends it in the groups claim (case matters). "
            "Microsoft Entra ID sends group object IDs, such as "
            "a1b2c3d4-0000-4000-8000-000000000001: paste the ID from Entra admin "
            "center > Groups > (the group) > Object ID."
        ),
        error_messages={
            "required": _("Enter the group's name exactly as your IdP sends it."),
        },
    )
    role = forms.ChoiceField(
        label=_("Role"),
        error_messages={"invalid_choice": ROLE_CHOICE_ERROR},
    )

    def __init__(self, *args, roles: Sequence[Role], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["role"]).choices = _role_choices(roles)


class ProvisioningSettingsForm(forms.Form):
    """The default role, "only mapped groups" and "invitation only"."""

    default_role = forms.ChoiceField(
        label=_("Default role"),
        required=False,
        help_text=_("For people whose groups match no mapping."),
        error_messages={"invalid_choice": ROLE_CHOICE_ERROR},
    )
    only_mapped_groups = forms.BooleanField(
        label=_("Only members of mapped groups may sign in"),
        required=False,
        help_text=_(
            "People in no mapped group are refused, and existing members who left "
            "every mapped group are deactivated at their next sign-in."
        ),
    )
    invitation_only = forms.BooleanField(
        label=_("Invitation only"),
        required=False,
        help_text=_(
            "A person needs an invitation to join through SSO; members who "
            "already joined keep signing in."
        ),
    )

    def __init__(self, *args, roles: Sequence[Role], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["default_role"]).choices = [
            ("", _("No default: refuse people in no mapped group")),
            *_role_choices(roles),
        ]
