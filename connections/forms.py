"""Forms for OIDC connections. The services validate again and have the last word.

The client secret is write-only: its widget never renders a value, not even
when the form comes back with errors, and on edit an empty field keeps the
stored secret.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from connections.models import Connection
from connections.oidc.client_auth import PRIVATE_KEY_JWT
from connections.oidc.discovery import issuer_from_input
from connections.oidc.errors import OIDCError
from connections.services.connections import (
    DEFAULT_SCOPES,
    MAX_LEEWAY_SECONDS,
    openid_scope_missing,
)


class ConnectionForm(forms.Form):
    """Fields of the contract: name, issuer_url, client_id, client_secret,
    scopes, groups_claim, email_claim; provider, leeway and IdP sign-out are
    optional extras with defaults."""

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("For your team, for example 'Okta production'."),
    )
    provider = forms.ChoiceField(
        label=_("Provider"),
        choices=Connection.Provider.choices,
        required=False,
        initial=Connection.Provider.OIDC,
        help_text=_(
            "Decides the defaults, how an email address is trusted, how people "
            "are identified, where groups are read from and the check's advice. "
            "Choose what you connect; it is never guessed from the URL."
        ),
    )
    issuer_url = forms.CharField(
        label=_("Issuer URL"),
        max_length=600,
        widget=forms.URLInput(attrs={"placeholder": "https://acme.okta.com"}),
        help_text=_(
            "The issuer, or its full /.well-known/openid-configuration URL. Okta: "
            "https://<your-org>.okta.com, or https://<your-org>.okta.com/oauth2/"
            "default for a custom authorization server. Entra ID: "
            "https://login.microsoftonline.com/<tenant-id>/v2.0. Google: "
            "https://accounts.google.com."
        ),
    )
    client_id = forms.CharField(
        label=_("Client ID"),
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Okta: Applications > your app > General > Client Credentials."),
    )
    token_auth_method = forms.ChoiceField(
        label=_("Client authentication"),
        choices=[
            ("", _("Client secret, as the IdP's discovery document prefers")),
            ("client_secret_basic", _("Client secret in HTTP Basic")),
            ("client_secret_post", _("Client secret in the request body")),
            (
                PRIVATE_KEY_JWT,
                _("Signed assertion with the console's key (private_key_jwt)"),
            ),
        ],
        required=False,
        help_text=_(
            "With private_key_jwt no secret is stored: the console makes a key "
            "pair and you give the IdP its public keys (Okta: Client "
            "Credentials > 'Public key / Private key')."
        ),
    )
    client_secret = forms.CharField(
        label=_("Client secret"),
        max_length=2000,
        strip=False,
        required=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}
        ),
        help_text=_(
            "Stored encrypted; never shown again. Leave empty with private_key_jwt."
        ),
    )
    client_secret_expires_on = forms.DateField(
        label=_("Client secret expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "Optional. The owner is emailed 30, 7 and 1 days before (Entra secrets "
            "expire after at most two years)."
        ),
    )
    scopes = forms.CharField(
        label=_("Scopes"),
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": DEFAULT_SCOPES}),
        help_text=_(
            "Separated by spaces; must include openid. Empty: the provider's "
            "defaults ('openid email profile groups' for Okta and other "
            "providers, 'openid email profile' for Entra ID and Google)."
        ),
    )
    groups_claim = forms.CharField(
        label=_("Groups claim"),
        max_length=100,
        required=False,
        initial="groups",
        help_text=_(
            "The ID token claim that lists the person's groups (read from "
            "UserInfo when the ID token lacks it, for Okta and other providers)."
        ),
    )
    email_claim = forms.CharField(
        label=_("Email claim"),
        max_length=100,
        required=False,
        initial="email",
    )
    leeway_seconds = forms.IntegerField(
        label=_("Clock-skew leeway (seconds)"),
        min_value=0,
        max_value=MAX_LEEWAY_SECONDS,
        required=False,
        initial=60,
    )
    idp_logout = forms.BooleanField(
        label=_("Also sign out of the IdP when signing out here"),
        required=False,
    )
    groups_from_graph = forms.BooleanField(
        label=_("Entra ID: read groups from Microsoft Graph when a token has too many"),
        required=False,
        help_text=_(
            "Above about 200 groups Entra ID leaves them out of the ID token. "
            "With this on, the console asks Microsoft Graph for the person's "
            "groups with the sign-in's access token (grant the app the delegated "
            "permission GroupMember.Read.All). Off: such sign-ins are refused "
            "with advice to send only the groups assigned to the application."
        ),
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            secret = self.fields["client_secret"]
            secret.help_text = _(
                "A secret is stored unless the method is private_key_jwt. Leave "
                "this empty to keep it, or paste a new one: it goes into a new "
                "draft, and the check tests it before it replaces the live one."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        method = data.get("token_auth_method") or ""
        if method != PRIVATE_KEY_JWT and not self.editing:
            if not data.get("client_secret"):
                self.add_error(
                    "client_secret",
                    _(
                        "Enter the client secret from your IdP app, or choose "
                        "private_key_jwt."
                    ),
                )
        return data

    def clean_issuer_url(self) -> str:
        value = self.cleaned_data["issuer_url"]
        try:
            return issuer_from_input(
                value,
                allow_insecure=bool(
                    getattr(settings, "SSO_ALLOW_INSECURE_ISSUERS", False)
                ),
            )
        except OIDCError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_scopes(self) -> str:
        value = " ".join(self.cleaned_data["scopes"].split())
        if value and "openid" not in value.split():
            raise forms.ValidationError(openid_scope_missing())
        return value

    def service_kwargs(self) -> dict[str, Any]:
        """The cleaned values as the keyword arguments of the services."""
        data = self.cleaned_data
        leeway = data.get("leeway_seconds")
        kwargs: dict[str, Any] = {
            "name": data["name"],
            # Blank: generic OIDC for a new connection, unchanged on edit.
            "provider": data.get("provider") or None,
            "issuer_url": data["issuer_url"],
            "client_id": data["client_id"],
            "client_secret": data.get("client_secret") or "",
            # Empty: the provider's defaults, chosen by the service.
            "scopes": data.get("scopes") or "",
            "groups_claim": data.get("groups_claim") or "",
            "email_claim": data.get("email_claim") or "email",
            "leeway_seconds": 60 if leeway is None else leeway,
            "idp_logout": bool(data.get("idp_logout")),
            "groups_from_graph": bool(data.get("groups_from_graph")),
        }
        # Left out by a script: discovery decides (new) or unchanged (edit).
        if "token_auth_method" in self.data:
            kwargs["token_auth_method"] = data.get("token_auth_method") or ""
        if "client_secret_expires_on" in self.data:
            kwargs["client_secret_expires_on"] = data.get("client_secret_expires_on")
        return kwargs

    @classmethod
    def initial_for(cls, connection: Connection) -> dict[str, Any]:
        """The edit form's initial values: the draft, without its secret."""
        draft = connection.draft
        initial: dict[str, Any] = {
            "name": connection.name,
            "provider": connection.provider,
        }
        if draft is not None:
            initial |= {
                "issuer_url": draft.issuer_url,
                "client_id": draft.client_id,
                "scopes": draft.scopes,
                "groups_claim": draft.groups_claim,
                "email_claim": draft.email_claim,
                "leeway_seconds": draft.leeway_seconds,
                "idp_logout": draft.idp_logout,
                "groups_from_graph": draft.groups_from_graph,
                "token_auth_method": draft.token_auth_method,
                "client_secret_expires_on": draft.client_secret_expires_on,
            }
        return initial


class PublishForm(forms.Form):
    """The irreversible switch asks for the login path, typed out."""

    confirm = forms.CharField(
        label=_("Type the organization's login path to confirm"),
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "none",
            }
        ),
    )
