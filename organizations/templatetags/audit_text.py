"""``{{ event.action|audit_action }}`` and ``{{ event.details|audit_details }}``:
an audit row as text people read, not the codes and Python values it stores.

Rows keep machine words (actions, keys, codes) so scripts can compare them;
the page says them in words. An action or key this module does not know is
shown as readable words made from its code, never as a Python literal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import template
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

register = template.Library()

ACTIONS: dict[str, StrOrPromise] = {
    "organization.created": _("Organization created"),
    "connection.created": _("Connection created"),
    "connection.updated": _("Connection draft edited"),
    "connection.check_started": _("Connection check started"),
    "connection.check_finished": _("Connection check finished"),
    "connection.check_failed": _("Connection check failed"),
    "connection.test_signin": _("Test sign-in"),
    "connection.published": _("Connection published"),
    "connection.secrets_rotated": _("Connection secrets rotated"),
    "connection.health_failing": _("Connection health check failing"),
    "connection.health_recovered": _("Connection health check recovered"),
    "sso.enforced": _("Single sign-on enforced"),
    "sso.identity_linked": _("IdP identity linked to an account"),
    "domain.added": _("Domain added"),
    "domain.check_requested": _("Domain check requested"),
    "domain.verified": _("Domain verified"),
    "domain.failed": _("Domain verification failed"),
    "domain.record_missing": _("Domain record missing"),
    "domain.record_restored": _("Domain record restored"),
    "domain.removed": _("Domain removed"),
    "invitation.created": _("Invitation created"),
    "invitation.resent": _("Invitation sent again"),
    "invitation.email_sent": _("Invitation email sent"),
    "invitation.accepted": _("Invitation accepted"),
    "invitation.revoked": _("Invitation revoked"),
    "invitation.expired": _("Invitation expired"),
    "mapping.created": _("Group mapping added"),
    "mapping.changed": _("Group mapping changed"),
    "mapping.deleted": _("Group mapping removed"),
    "membership.created": _("Member added"),
    "membership.provisioned": _("Member added by single sign-on"),
    "membership.role_changed": _("Member's role changed"),
    "membership.deactivated": _("Member deactivated"),
    "membership.reactivated": _("Member reactivated"),
    "membership.managed_by_idp": _("Member now managed by the IdP"),
    "provisioning.settings_changed": _("Provisioning settings changed"),
    "user.provisioned": _("Account created by single sign-on"),
    "user.signed_up": _("Owner signed up"),
    "user.signup_requested": _("Sign-up requested"),
    "user.signup_attempted": _("Sign-up tried for an existing account"),
    "user.signup_link_sent": _("Sign-up link sent"),
    "user.signup_notice_sent": _("Sign-up notice sent"),
    "user.email_proof_requested": _("Address confirmation requested"),
    "user.email_proof_sent": _("Address confirmation link sent"),
    "user.email_proven": _("Email address confirmed"),
}

KEYS: dict[str, StrOrPromise] = {
    "after": _("now"),
    "before": _("before"),
    "by": _("by"),
    "default_role": _("default role"),
    "domain": _("domain"),
    "email": _("email"),
    "group": _("group"),
    "groups": _("groups"),
    "groups_claim": _("groups claim"),
    "invitation_only": _("invitation only"),
    "matched_groups": _("matched groups"),
    "only_mapped_groups": _("only mapped groups"),
    "reason": _("reason"),
    "reason_code": _("code"),
    "role": _("role"),
    "source": _("source"),
    "status": _("status"),
}

VALUES: dict[str, StrOrPromise] = {
    "idp": _("the identity provider"),
    "hand": _("hand"),
    "support": _("support staff"),
    "invitation": _("invitation"),
    "sso": _("single sign-on"),
    "owner": _("owner"),
}


def _words(code: str) -> str:
    return capfirst(code.replace(".", " ").replace("_", " "))


def _key(name: object) -> str:
    text = str(name)
    return str(KEYS.get(text) or text.replace("_", " "))


def _value(value: Any) -> str:
    """One stored value as text: no ``None``, ``True`` or ``{...}``."""
    if value is None or value == "":
        return str(_("none"))
    if value is True:
        return str(_("yes"))
    if value is False:
        return str(_("no"))
    if isinstance(value, dict):
        return "; ".join(f"{_key(k)}: {_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(item) for item in value) if value else str(_("none"))
    text = str(value)
    return str(VALUES.get(text, text))


@register.filter
def audit_action(action: object) -> str:
    text = str(action or "")
    return str(ACTIONS.get(text) or _words(text))


@register.filter
def audit_details(details: object) -> list[tuple[str, str]]:
    """The row's details as (label, text) pairs; a before/after pair of
    settings becomes one "label: old → new" per setting that changed."""
    if not isinstance(details, dict):
        return []
    pairs: list[tuple[str, str]] = []
    before, after = details.get("before"), details.get("after")
    rest = dict(details)
    if isinstance(before, dict) and isinstance(after, dict):
        rest.pop("before")
        rest.pop("after")
        for key in after:
            pairs.append(
                (_key(key), f"{_value(before.get(key))} → {_value(after.get(key))}")
            )
    elif "before" in details and "after" in details:
        rest.pop("before")
        rest.pop("after")
        pairs.append((str(_("change")), f"{_value(before)} → {_value(after)}"))
    pairs.extend((_key(key), _value(value)) for key, value in rest.items())
    return pairs
