"""Decide a signing-in user's role from their ID token's group claim.

Pure code: no ORM, no I/O, and of Django only gettext for the sentences. The SSO
sign-in glue loads the organization's group mappings and settings, calls
:func:`roles_from_claims` and acts on the :class:`Decision`; the test sign-in
shows the same decision without acting on it.

Public API::

    ROLE_RANK = {"viewer": 1, "member": 2, "admin": 3}

    ProvisioningSettings(default_role: str | None, only_mapped_groups: bool,
                         groups_claim: str = "groups", max_groups: int = 1000)
    Decision(allowed, role, groups, matched_groups, reason, groups_claim_status,
             code)

    groups_from_claims(claims, groups_claim, max_groups) -> (groups, status)
    roles_from_claims(claims, mappings, settings) -> Decision

``mappings`` maps an IdP group name to a role slug.

Rules, and why:

* The groups claim may be a list of strings or a single string. Non-string items
  and empty strings are ignored; duplicates are dropped, keeping the first
  occurrence's position. A missing claim, or JSON ``null``, means "no groups".
* Matching is exact and case-sensitive: IdP group names are identifiers, and
  folding case could let a user-created group "ADMINS" match a mapping meant for
  "admins".
* Only roles in :data:`ROLE_RANK` can be granted. ``owner`` is never granted from
  the IdP, whatever the mapping or default role says; unknown slugs are ignored.
* Several matching groups: the highest-ranked role wins. Equal ranks mean the same
  role, so the tie-break only picks which group the reason names: the smallest
  name in code-point order, so the reason does not depend on the order the IdP
  happened to list the groups in.
* No match: the default role if there is one and ``only_mapped_groups`` is off;
  otherwise a refusal.

``reason`` is the sentence for people (translated); ``code`` names the outcome
for code and tests: ``mapped_group``, ``default_role`` or ``default_role_no_claim``
when allowed; ``groups_overage``, ``groups_too_many``, ``groups_claim_invalid``,
``groups_claim_missing``, ``no_mapped_group`` or ``no_default_role`` when refused.

``groups_claim_status`` is one of:

* ``"present"``: the claim was a list or a string (possibly with no usable groups).
* ``"missing"``: no claim (or ``null``).
* ``"overage"``: the token does not carry the complete list of groups, so the role
  cannot be decided safely; always refused. Either Entra ID (Azure AD) moved the
  groups out of the token (``_claim_names`` names the groups claim; or, for the
  ``groups`` claim, ``hasgroups: true`` or ``_claim_sources`` without the claim),
  or the list holds more than ``max_groups`` distinct groups. A list cut at
  ``max_groups`` could drop the one group that grants the right (or a higher)
  role, so it is refused with a sentence telling the admin to filter the claim in
  the IdP, not processed partially. ``groups`` then holds the first
  ``max_groups`` groups, for display only.
* ``"invalid"``: the claim is something else (an object, a number, ...), as some
  IdPs send when a claim expression or cap is misconfigured; always refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

ROLE_RANK: Final[Mapping[str, int]] = {"viewer": 1, "member": 2, "admin": 3}

GroupsClaimStatus = Literal["present", "missing", "overage", "invalid"]

# Entra ID's "distributed claims" markers for a token whose groups did not fit.
_ENTRA_CLAIM_NAMES: Final = "_claim_names"
_ENTRA_CLAIM_SOURCES: Final = "_claim_sources"
_ENTRA_HAS_GROUPS: Final = "hasgroups"
_ENTRA_GROUPS_CLAIM: Final = "groups"


@dataclass(frozen=True)
class ProvisioningSettings:
    """An organization's provisioning settings, as plain values."""

    default_role: str | None
    only_mapped_groups: bool
    groups_claim: str = "groups"
    max_groups: int = 1000

    def __post_init__(self) -> None:
        # Configuration bugs, caught where the settings are built rather than
        # turning into odd decisions at someone's sign-in.
        if not self.groups_claim:
            raise ValueError("groups_claim must be a non-empty claim name")
        if self.max_groups < 1:
            raise ValueError("max_groups must be at least 1")


@dataclass(frozen=True)
class Decision:
    """The outcome of a sign-in's provisioning: whether, and with which role."""

    allowed: bool
    role: str | None
    groups: tuple[str, ...]
    matched_groups: tuple[str, ...]
    reason: str
    groups_claim_status: GroupsClaimStatus
    code: str


@dataclass(frozen=True)
class _GroupsRead:
    groups: tuple[str, ...]
    status: GroupsClaimStatus
    # Why the status is "overage" or "invalid", to pick the right sentence.
    entra_overage: bool = False
    too_many: bool = False
    claim_type: str = ""


def groups_from_claims(
    claims: Mapping[str, Any], groups_claim: str, max_groups: int
) -> tuple[tuple[str, ...], GroupsClaimStatus]:
    """Return the normalised groups (at most ``max_groups``) and the claim status."""
    read = _read_groups(claims, groups_claim, max_groups)
    return read.groups, read.status


def roles_from_claims(
    claims: Mapping[str, Any],
    mappings: Mapping[str, str],
    settings: ProvisioningSettings,
) -> Decision:
    """Decide whether the token's holder may sign in, and with which role."""
    claim = settings.groups_claim
    read = _read_groups(claims, claim, settings.max_groups)

    if read.status == "overage":
        if read.entra_overage:
            reason = _(
                'Your identity provider left the "%(claim)s" claim out of the ID '
                "token because you are in too many groups (Entra ID group overage), "
                "so your role cannot be decided. Ask your IdP admin to limit the "
                'groups claim to "Groups assigned to the application" in the app\'s '
                "token configuration, and to assign the mapped groups to the app."
            ) % {"claim": claim}
            return _refuse(read, reason, "groups_overage")
        reason = ngettext(
            'Your ID token lists more than %(max)d group in the "%(claim)s" claim, '
            "so your role cannot be decided reliably. Ask your IdP admin to add a "
            "groups claim filter so only the groups that matter are sent (in "
            "Okta, for example, a regex filter like ^app-.*).",
            'Your ID token lists more than %(max)d groups in the "%(claim)s" '
            "claim, so your role cannot be decided reliably. Ask your IdP admin to "
            "add a groups claim filter so only the groups that matter are sent (in "
            "Okta, for example, a regex filter like ^app-.*).",
            settings.max_groups,
        ) % {"max": settings.max_groups, "claim": claim}
        return _refuse(read, reason, "groups_too_many")

    if read.status == "invalid":
        reason = _(
            'The "%(claim)s" claim in your ID token is %(type)s, not a list of '
            "group names. Ask your IdP admin to send the groups claim as a list of "
            "group names (in Okta, a Groups claim with a filter)."
        ) % {"claim": claim, "type": read.claim_type}
        return _refuse(read, reason, "groups_claim_invalid")

    # Dict lookups only: O(groups), whatever the number of mappings.
    matched: list[tuple[str, str]] = []
    for group in read.groups:
        role = mappings.get(group)
        if role is not None and role in ROLE_RANK:
            matched.append((group, role))

    if matched:
        best_rank = max(ROLE_RANK[role] for _group, role in matched)
        best = sorted(group for group, role in matched if ROLE_RANK[role] == best_rank)
        role = next(r for r, rank in ROLE_RANK.items() if rank == best_rank)
        if len(matched) > 1:
            reason = _(
                'Mapped from group "%(group)s" (the highest of %(count)d matching '
                "groups)"
            ) % {"group": best[0], "count": len(matched)}
        else:
            reason = _('Mapped from group "%(group)s"') % {"group": best[0]}
        return Decision(
            allowed=True,
            role=role,
            groups=read.groups,
            matched_groups=tuple(group for group, _role in matched),
            reason=reason,
            groups_claim_status=read.status,
            code="mapped_group",
        )

    if settings.only_mapped_groups:
        if read.status == "missing":
            reason = _(
                'Your ID token has no "%(claim)s" claim, and only members of mapped '
                "groups may sign in to this organization. Ask your IdP admin to add "
                "the groups claim to the app's ID token and to assign you to one of "
                "the mapped groups."
            ) % {"claim": claim}
            return _refuse(read, reason, "groups_claim_missing")
        reason = _(
            "Your account is not in any group that has access to this "
            "organization; ask your IdP admin to assign you to one of the mapped "
            "groups."
        )
        return _refuse(read, reason, "no_mapped_group")

    default_role = settings.default_role
    if default_role is None or default_role not in ROLE_RANK:
        # An "owner" or unknown default is treated as no default: never granted.
        reason = _(
            "Your account is not in any group mapped to a role in this "
            "organization, and the organization has no default role. Ask your IdP "
            "admin to assign you to one of the mapped groups, or an organization "
            "admin to set a default role."
        )
        return _refuse(read, reason, "no_default_role")

    if read.status == "missing":
        reason = _('Default role: the ID token has no "%(claim)s" claim') % {
            "claim": claim
        }
        code = "default_role_no_claim"
    else:
        reason = _("Default role: no mapped group")
        code = "default_role"
    return Decision(
        allowed=True,
        role=default_role,
        groups=read.groups,
        matched_groups=(),
        reason=reason,
        groups_claim_status=read.status,
        code=code,
    )


def _refuse(read: _GroupsRead, reason: str, code: str) -> Decision:
    return Decision(
        allowed=False,
        role=None,
        groups=read.groups,
        matched_groups=(),
        reason=reason,
        groups_claim_status=read.status,
        code=code,
    )


def _read_groups(
    claims: Mapping[str, Any], groups_claim: str, max_groups: int
) -> _GroupsRead:
    raw = claims.get(groups_claim)
    entra_overage = _has_entra_overage(claims, groups_claim, raw)

    if raw is None:
        if entra_overage:
            return _GroupsRead((), "overage", entra_overage=True)
        return _GroupsRead((), "missing")
    if isinstance(raw, str):
        items: list[Any] | tuple[Any, ...] = [raw]
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        if entra_overage:
            return _GroupsRead((), "overage", entra_overage=True)
        return _GroupsRead((), "invalid", claim_type=_json_type_name(raw))

    # A dict keeps insertion order, so it both de-duplicates and preserves order.
    seen: dict[str, None] = {}
    too_many = False
    for item in items:
        if not isinstance(item, str) or not item or item in seen:
            continue
        if len(seen) == max_groups:
            # Stop at the first group past the cap: a huge claim costs no more.
            too_many = True
            break
        seen[item] = None
    groups = tuple(seen)

    if entra_overage or too_many:
        return _GroupsRead(
            groups, "overage", entra_overage=entra_overage, too_many=too_many
        )
    return _GroupsRead(groups, "present")


def _has_entra_overage(claims: Mapping[str, Any], groups_claim: str, raw: Any) -> bool:
    """Whether Entra ID signals that the groups did not fit in the token."""
    claim_names = claims.get(_ENTRA_CLAIM_NAMES)
    if isinstance(claim_names, Mapping) and groups_claim in claim_names:
        return True
    if groups_claim != _ENTRA_GROUPS_CLAIM:
        # The markers below are about Entra's own "groups" claim only; a token
        # read for, say, "roles" is not incomplete because of them.
        return False
    # Implicit-flow tokens say "hasgroups": true instead of listing the groups.
    if claims.get(_ENTRA_HAS_GROUPS) in (True, "true"):
        return True
    # Claim sources without the claim: the groups live elsewhere; refusing beats
    # granting a default role that may be lower (or higher) than the mapped one.
    sources = claims.get(_ENTRA_CLAIM_SOURCES)
    return raw is None and isinstance(sources, Mapping) and bool(sources)


def _json_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return _("a boolean")
    if isinstance(value, int | float):
        return _("a number")
    if isinstance(value, Mapping):
        return _("a JSON object")
    return _("not a list or a string")
