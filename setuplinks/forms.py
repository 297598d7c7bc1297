"""The owner's form for a new setup link. The service validates again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from connections.models import Connection
from organizations.models import Organization
from setuplinks.services import MAX_NOTE_CHARS


class SetupLinkForm(forms.Form):
    email = forms.EmailField(
        label=_("IT admin's email address"),
        max_length=254,
        help_text=_(
            "The person who administers your identity provider. Recorded on "
            "everything they do through the link."
        ),
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        max_length=MAX_NOTE_CHARS,
        required=False,
        help_text=_("For you, for example 'Okta app for production'."),
    )
    connection = forms.ModelChoiceField(
        label=_("Connection"),
        queryset=Connection.objects.none(),
        required=False,
        empty_label=_("A new connection (they create it)"),
        help_text=_("Which connection's draft they may edit, test and check."),
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["connection"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Connection.objects.filter(organization=organization).order_by(
            "created_at", "id"
        )
