"""What each kind of identity provider means for a sign-in: one profile each.

The owner picks the provider on the connection's form (``Connection.provider``);
it is never guessed from the issuer's host, so every shape works against a
local IdP in tests. A profile fixes the defaults (scopes, groups claim), which
claims carry the email address and what makes it trustworthy, the identity
key, where groups come from, and the guide. The sign-in
(``connections.services.sso``, ``connections.backend``) and the connection
check (``connections.checks_steps``) read these same rules.

Pure code: no ORM, no request, no I/O; Django only for gettext. What needs
the database (is a domain verified by this organization?) is answered by the
caller, for the domains :func:`domains_to_verify` names.

The rules, and why:

* **Okta and generic OIDC**: the ``email`` claim is trusted only when
  ``email_verified`` is true (OIDC Core 5.1). Identity: ``sub``.
* **Microsoft Entra ID** never sends ``email_verified`` for work accounts.
  The issuer must name one tenant (``/<tenant-id>/v2.0``): ``/common``,
  ``/organizations`` and ``/consumers`` accept any tenant's users (their
  discovery advertises a literal ``{tenantid}`` issuer), so the token's
  ``tid`` must equal the issuer's tenant. The address comes from ``email``,
  else ``preferred_username``, else ``upn``; it is trusted only in a domain
  this organization verified over DNS, and when Entra sends ``xms_edov``
  (email domain owner verified) it must be true. Entra's ``sub`` is pairwise
  per app registration (a re-created app changes it), so the identity is
  keyed by ``tid`` and ``oid``, which are stable across app registrations.
* **Google Workspace**: ``hd`` (hosted domain) must be a domain this
  organization verified; an account without ``hd`` is a consumer Google
  account whatever its address says. ``email_verified`` must be true too.
  Google sends no groups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

OKTA: Final = "okta"
ENTRA: Final = "entra"
GOOGLE: Final = "google"
OIDC: Final = "oidc"

IdentityKey = Literal["sub", "tid_oid"]

# Entra's multi-tenant endpoints, and the placeholder their documents advertise.
ENTRA_MULTI_TENANT: Final = frozenset({"common", "organizations", "consumers"})
_GUID_RE: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
# Okta custom authorization servers: https://<org>.okta.com/oauth2/<id>.
_OKTA_CUSTOM_SERVER_RE: Final = re.compile(r"/oauth2/[^/]+/?")


@dataclass(frozen=True)
class ProviderProfile:
    """The rules of one kind of provider. ``label`` and ``email_rule`` are lazy
    translations, read when shown."""

    key: str
    label: Any
    scopes: str
    groups_claim: str
    # Claims read for the address, in order, after the connection's own.
    fallback_email_claims: tuple[str, ...]
    # The IdP's email_verified must be true for the 'email' claim.
    requires_email_verified: bool
    # Entra: xms_edov, when present, must be true.
    checks_edov: bool
    # Google: hd must be a verified domain of the organization.
    requires_hosted_domain: bool
    # Entra: the issuer names one tenant and the token's tid equals it.
    single_tenant_issuer: bool
    identity_key: IdentityKey
    # Whether groups may be read from UserInfo when the ID token lacks them.
    groups_from_userinfo: bool
    # Whether the provider sends groups at all (Google: no).
    sends_groups: bool
    guide: str
    email_rule: Any


PROFILES: Final[Mapping[str, ProviderProfile]] = {
    OKTA: ProviderProfile(
        key=OKTA,
        label=gettext_lazy("Okta"),
        scopes="openid email profile groups",
        groups_claim="groups",
        fallback_email_claims=(),
        requires_email_verified=True,
        checks_edov=False,
        requires_hosted_domain=False,
        single_tenant_issuer=False,
        identity_key="sub",
        groups_from_userinfo=True,
        sends_groups=True,
        guide="docs/okta-setup.md",
        email_rule=gettext_lazy(
            "Okta: an email address is trusted only when the ID token (or "
            "UserInfo) says email_verified is true, and only in a domain this "
            "organization has verified. People are identified by Okta's sub."
        ),
    ),
    ENTRA: ProviderProfile(
        key=ENTRA,
        label=gettext_lazy("Microsoft Entra ID"),
        scopes="openid email profile",
        groups_claim="groups",
        fallback_email_claims=("preferred_username", "upn"),
        requires_email_verified=False,
        checks_edov=True,
        requires_hosted_domain=False,
        single_tenant_issuer=True,
        identity_key="tid_oid",
        groups_from_userinfo=False,
        sends_groups=True,
        guide="docs/entra-setup.md",
        email_rule=gettext_lazy(
            "Microsoft Entra ID sends no email_verified: the issuer must name "
            "your tenant (…/<tenant-id>/v2.0, never /common or /organizations) "
            "and every token's tid must equal it; the address (email, else "
            "preferred_username, else upn) is trusted only in a domain this "
            "organization has verified, and only when xms_edov, if Entra sends "
            "it, is true. People are identified by tid and oid, which survive a "
            "re-created app registration (sub does not)."
        ),
    ),
    GOOGLE: ProviderProfile(
        key=GOOGLE,
        label=gettext_lazy("Google Workspace"),
        scopes="openid email profile",
        groups_claim="groups",
        fallback_email_claims=(),
        requires_email_verified=True,
        checks_edov=False,
        requires_hosted_domain=True,
        single_tenant_issuer=False,
        identity_key="sub",
        groups_from_userinfo=False,
        sends_groups=False,
        guide="docs/google-setup.md",
        email_rule=gettext_lazy(
            "Google Workspace: the token's hd (hosted domain) must be a domain "
            "this organization has verified, so a consumer Google account (no "
            "hd) is refused even when its address looks right; email_verified "
            "must be true and the address in a verified domain. Google sends no "
            "groups: people get the default role or their invitation's."
        ),
    ),
    OIDC: ProviderProfile(
        key=OIDC,
        label=gettext_lazy("Other OpenID Connect provider"),
        scopes="openid email profile groups",
        groups_claim="groups",
        fallback_email_claims=(),
        requires_email_verified=True,
        checks_edov=False,
        requires_hosted_domain=False,
        single_tenant_issuer=False,
        identity_key="sub",
        groups_from_userinfo=True,
        sends_groups=True,
        guide="docs/okta-setup.md",
        email_rule=gettext_lazy(
            "An email address is trusted only when the ID token (or UserInfo) "
            "says email_verified is true, and only in a domain this organization "
            "has verified. People are identified by the provider's sub."
        ),
    ),
}


class ProviderRuleError(Exception):
    """A claim set this provider's rules refuse. ``code`` is the stable step
    name (stored as the sign-in event's step); ``detail`` is for admins."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def profile_for(key: str | None) -> ProviderProfile:
    """The profile of ``key``; an unknown or empty key is generic OIDC."""
    return PROFILES.get(key or OIDC, PROFILES[OIDC])


# ----------------------------------------------------------------- issuers


def entra_tenant(issuer: str) -> str | None:
    """The tenant an Entra issuer names (lower-case GUID), or None.

    Read from the path ``/<tenant>/v2.0`` whatever the host, so a local IdP
    shaped like Entra works in tests.
    """
    parts = [p for p in urlsplit(issuer).path.split("/") if p]
    if len(parts) != 2 or parts[1] != "v2.0":
        return None
    tenant = parts[0]
    return tenant.lower() if _GUID_RE.fullmatch(tenant) else None


def issuer_problem(profile: ProviderProfile, issuer: str) -> tuple[str, str] | None:
    """(detail, fix) when the issuer URL cannot work for this provider."""
    if not profile.single_tenant_issuer or entra_tenant(issuer) is not None:
        return None
    parts = [p for p in urlsplit(issuer).path.split("/") if p]
    segment = parts[0] if parts else ""
    if segment.lower() in ENTRA_MULTI_TENANT or "{" in segment:
        detail = _(
            "The issuer %(issuer)s is Entra ID's multi-tenant endpoint "
            "('%(segment)s'): it accepts people from any Microsoft tenant and "
            "its ID tokens never match the issuer it advertises "
            "('…/{tenantid}/v2.0'), so sign-in could not be validated."
        ) % {"issuer": issuer, "segment": segment[:60]}
    else:
        detail = _(
            "The issuer %(issuer)s does not name one Entra ID tenant: it must end "
            "in /<Directory (tenant) ID>/v2.0."
        ) % {"issuer": issuer}
    fix = _(
        "In the Microsoft Entra admin center, open Identity > Applications > App "
        "registrations > (your app) > Overview, copy the 'Directory (tenant) ID' "
        "and enter the issuer https://login.microsoftonline.com/<Directory "
        "(tenant) ID>/v2.0. For a single-tenant app, also set Authentication > "
        "Supported account types to 'Accounts in this organizational directory "
        "only'."
    )
    return detail, fix


def okta_custom_server(issuer: str) -> bool:
    """Whether an Okta issuer is a custom authorization server (/oauth2/<id>)."""
    return bool(_OKTA_CUSTOM_SERVER_RE.fullmatch(urlsplit(issuer).path))


# ----------------------------------------------------------------- claims


def _truthy(value: Any) -> bool:
    # Some providers (Amazon Cognito) send the string "true".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def email_claim_used(
    profile: ProviderProfile, claims: Mapping[str, Any], email_claim: str
) -> str:
    """The claim the address is read from: the connection's, else the
    profile's fallbacks in order (Entra: preferred_username, upn)."""
    for name in (email_claim, *profile.fallback_email_claims):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return name
    return email_claim


def email_trust_problem(
    profile: ProviderProfile,
    claims: Mapping[str, Any],
    *,
    email: str,
    email_claim: str,
    address_in_email_claim: str,
) -> ProviderRuleError | None:
    """Why this provider does not vouch for ``email``, or None.

    ``email`` is the canonical address read from ``email_claim``;
    ``address_in_email_claim`` the canonical address of the 'email' claim
    itself, the one ``email_verified`` speaks for (OIDC Core 5.1). The
    organization's verified domains are checked by the caller, for the
    address's domain and :func:`domains_to_verify`.
    """
    if profile.requires_email_verified and not (
        _truthy(claims.get("email_verified")) and address_in_email_claim == email
    ):
        return ProviderRuleError("email_verified", email_unverified_detail(email_claim))
    if profile.checks_edov and "xms_edov" in claims and not _truthy(claims["xms_edov"]):
        return ProviderRuleError(
            "email_edov",
            _(
                "Entra ID says the owner of this email address's domain is not "
                "verified in the tenant (xms_edov is false), so the address was "
                "not trusted. Verify the domain under Entra ID > Custom domain "
                "names, or use the person's verified address."
            ),
        )
    if profile.requires_hosted_domain:
        hd = claims.get("hd")
        if not isinstance(hd, str) or not hd:
            return ProviderRuleError(
                "google_hd",
                _(
                    "The Google account has no hosted domain (no 'hd' claim): it is "
                    "a consumer Google account, not one of this organization's "
                    "Google Workspace accounts."
                ),
            )
    return None


def email_unverified_detail(email_claim: str) -> str:
    if email_claim == "email":
        return _(
            "The ID token's 'email_verified' is not true; accounts are only "
            "created or linked for verified addresses."
        )
    return _(
        "The ID token's 'email_verified' is not true for the address in "
        "'%(claim)s' (it vouches only for the 'email' claim, which must hold the "
        "same address); accounts are only created or linked for verified "
        "addresses."
    ) % {"claim": email_claim}


def domains_to_verify(
    profile: ProviderProfile, claims: Mapping[str, Any]
) -> tuple[str, ...]:
    """Domains besides the address's own that must be verified by the
    organization (Google: the hosted domain, lower-cased)."""
    if profile.requires_hosted_domain:
        hd = claims.get("hd")
        if isinstance(hd, str) and hd:
            return (hd.strip().rstrip(".").lower(),)
    return ()


def token_problem(
    profile: ProviderProfile, issuer: str, claims: Mapping[str, Any]
) -> ProviderRuleError | None:
    """Entra: the token's ``tid`` must be the issuer's tenant and ``oid`` set."""
    if not profile.single_tenant_issuer:
        return None
    tenant = entra_tenant(issuer)
    tid = claims.get("tid")
    if tenant is None or not isinstance(tid, str) or tid.lower() != tenant:
        return ProviderRuleError(
            "entra_tenant",
            _(
                "The ID token's tenant (tid) is not the tenant the connection's "
                "issuer names, so it was refused: only people of that Entra ID "
                "tenant may sign in."
            ),
        )
    oid = claims.get("oid")
    if not isinstance(oid, str) or not oid:
        return ProviderRuleError(
            "entra_oid",
            _(
                "The ID token has no 'oid' claim, which identifies the person in "
                "Entra ID. Use the v2.0 endpoint and the 'openid profile' scopes."
            ),
        )
    return None


def identity_subject(profile: ProviderProfile, claims: Mapping[str, Any]) -> str:
    """The stable identity key of verified claims (after :func:`token_problem`)."""
    if profile.identity_key == "tid_oid":
        return f"{str(claims['tid']).lower()}:{str(claims['oid']).lower()}"
    return str(claims["sub"])


# ----------------------------------------------------------------- groups


def needs_groups_overage_lookup(claims: Mapping[str, Any], groups_claim: str) -> bool:
    """Whether Entra moved the groups out of the token (distributed claims)."""
    names = claims.get("_claim_names")
    return (
        groups_claim not in claims
        and isinstance(names, Mapping)
        and groups_claim in names
    )


def claims_with_groups(
    claims: Mapping[str, Any], groups_claim: str, groups: list[str]
) -> dict[str, Any]:
    """``claims`` with the groups resolved elsewhere (Graph) in place of the
    overage pointer."""
    resolved = dict(claims)
    resolved[groups_claim] = list(groups)
    names = resolved.get("_claim_names")
    if isinstance(names, Mapping):
        rest = {k: v for k, v in names.items() if k != groups_claim}
        if rest:
            resolved["_claim_names"] = rest
        else:
            resolved.pop("_claim_names", None)
            resolved.pop("_claim_sources", None)
    resolved.pop("hasgroups", None)
    return resolved
