"""Someone without an account whom the owner let work on a connection's draft.

An app above connections (``setuplinks``) proves who such a person is and
builds a :class:`DraftDelegate`. Connections' services take one in place of a
membership for exactly the things a delegate may do: create a connection or
edit its draft (``connection_create``, ``connection_update``), start a check
(``connection_check_start``) and record a test sign-in
(``signin_test_record``). No other service accepts one, so publishing, members,
domains and other organizations stay out of reach by construction.

The SSO callback is connections' own view, so it cannot ask the higher app
whether the browser that comes back from a test sign-in still holds the
delegation; the higher app answers through the resolver it registers here from
its ``AppConfig.ready`` (the same pattern as ``organizations.overview``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

from organizations.models import Organization
from organizations.services import require_perm

if TYPE_CHECKING:
    from accounts.models import User
    from rolemapping.models import Membership

__all__ = [
    "DraftDelegate",
    "acting_as",
    "delegate_for_request",
    "delegate_resolver_register",
]

# What a delegate stands in for: the permission of the person who delegated.
DELEGATED_PERM = "connections.manage"


@dataclass(frozen=True)
class DraftDelegate:
    """A person acting on one organization's connection drafts, without an
    account, as proven by the app that built this (a setup link)."""

    organization: Organization
    email: str
    # Stable and unique, e.g. "setup_link:12": bound to a test sign-in's
    # login state and stored with its result, so only its own are shown.
    key: str
    # Added to every audit row the delegate causes (ids and the address; no
    # token): the owner reads who did what in the audit log.
    audit_details: Mapping[str, Any] = field(default_factory=dict)
    # Where a test sign-in's result (its check id) is shown to the delegate.
    check_url: Callable[[int], str] = field(default=lambda pk: "/", compare=False)


def acting_as(
    actor: Membership | DraftDelegate,
) -> tuple[Organization, User | None, dict[str, Any]]:
    """The organization, the user to record (None for a delegate) and the
    audit details of ``actor``, after checking it may manage connections."""
    if isinstance(actor, DraftDelegate):
        return actor.organization, None, dict(actor.audit_details)
    require_perm(actor, DELEGATED_PERM)
    return actor.organization, actor.user, {}


Resolver = Callable[[HttpRequest, str], "DraftDelegate | None"]
_resolvers: list[Resolver] = []


def delegate_resolver_register(resolver: Resolver) -> None:
    """Register ``resolver(request, key)``: the delegate ``key`` names if this
    request's session still holds it, validated now; else None."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def delegate_for_request(request: HttpRequest, key: str) -> DraftDelegate | None:
    """The delegate ``key`` names, if this browser still holds a valid one."""
    for resolver in _resolvers:
        found = resolver(request, key)
        if found is not None and found.key == key:
            return found
    return None
