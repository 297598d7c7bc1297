"""What the wizard tells an IT admin to do at each identity provider.

The providers offered are the connection form's own choices
(``Connection.Provider``), so a provider added there appears in the wizard;
one without a guide here gets the generic OpenID Connect guide.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class ProviderGuide:
    # Where to create the app, in the IdP's own words.
    create_app: StrOrPromise
    issuer_example: str
    issuer_hint: StrOrPromise
    credentials_hint: StrOrPromise
    groups_hint: StrOrPromise


GUIDES: dict[str, ProviderGuide] = {
    "okta": ProviderGuide(
        create_app=_(
            "In the Okta Admin Console: Applications > Applications > Create App "
            "Integration > OIDC - OpenID Connect > Web Application."
        ),
        issuer_example="https://your-company.okta.com",
        issuer_hint=_(
            "Your Okta domain, or https://your-company.okta.com/oauth2/default for "
            "a custom authorization server (Security > API)."
        ),
        credentials_hint=_(
            "Applications > your app > General > Client Credentials: the Client ID "
            "and a Client secret."
        ),
        groups_hint=_(
            "Sign On tab > OpenID Connect ID Token > Groups claim: type Filter, "
            "name 'groups', Matches regex '.*' (or only the groups that matter)."
        ),
    ),
    "entra": ProviderGuide(
        create_app=_(
            "In the Microsoft Entra admin center: Applications > App registrations "
            "> New registration, platform Web."
        ),
        issuer_example="https://login.microsoftonline.com/<tenant-id>/v2.0",
        issuer_hint=_(
            "https://login.microsoftonline.com/<your tenant ID>/v2.0 (Overview > "
            "Directory (tenant) ID)."
        ),
        credentials_hint=_(
            "Overview > Application (client) ID; Certificates & secrets > New "
            "client secret (copy its Value, not its ID)."
        ),
        groups_hint=_(
            "Token configuration > Add groups claim (security groups); Entra sends "
            "group IDs unless you choose names for cloud-only groups."
        ),
    ),
    "google": ProviderGuide(
        create_app=_(
            "In the Google Cloud console: APIs & Services > Credentials > Create "
            "credentials > OAuth client ID > Web application."
        ),
        issuer_example="https://accounts.google.com",
        issuer_hint=_("Always https://accounts.google.com."),
        credentials_hint=_("The client ID and client secret shown once it is created."),
        groups_hint=_(
            "Google does not put groups in the ID token: choose a default role "
            "with the owner instead of mapping groups."
        ),
    ),
    "oidc": ProviderGuide(
        create_app=_(
            "At your identity provider, create an OpenID Connect web application "
            "(confidential client, authorization code flow)."
        ),
        issuer_example="https://idp.example.com",
        issuer_hint=_(
            "The issuer, or the full URL of its /.well-known/openid-configuration."
        ),
        credentials_hint=_("The client ID and client secret of that application."),
        groups_hint=_(
            "If the owner maps groups to roles, have the ID token carry the "
            "person's groups in a 'groups' claim."
        ),
    ),
}


def guide_for(provider: str) -> ProviderGuide:
    return GUIDES.get(provider) or GUIDES["oidc"]
