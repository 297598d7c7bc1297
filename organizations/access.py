"""Who may see an organization's console pages.

A person who is not an active member of an organization gets 404 for all of its
pages, so organizations cannot even learn of each other. A member whose role
lacks a permission gets 403 with a sentence.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from organizations.errors import AddressUnproven
from organizations.models import Organization
from organizations.permissions import OWNER, address_allows, role_has_perm
from organizations.services import login_path_lookup, role_refusal

if TYPE_CHECKING:
    from accounts.models import User
    from rolemapping.models import Membership

SSO_SESSION_KEY = "sso_org_ids"


class PageRefused(PermissionDenied):
    """A console page refused to this member (403): the sentence, and a
    stable code for JSON clients."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class SignedInRequest(HttpRequest):
    """The request an ``org_view`` view is given: its user is signed in."""

    user: User


@dataclass(frozen=True)
class OrgContext:
    organization: Organization
    membership: Membership

    @property
    def role(self) -> str:
        return self.membership.role.slug

    @property
    def is_owner(self) -> bool:
        return self.role == OWNER

    def can(self, perm: str) -> bool:
        return role_has_perm(self.role, perm)


def active_memberships(request: HttpRequest) -> list[Membership]:
    """The signed-in user's active memberships, with organization and role, by
    organization name; [] for anyone else.

    Read once per request: the session check (``ActiveMembershipMiddleware``),
    the console's organization, its navigation and ``/accounts/me/`` share it.
    """
    user = request.user
    if not user.is_authenticated:
        return []
    cached = getattr(request, "_active_memberships", None)
    if cached is not None and cached[0] == user.pk:  # a sign-in changes the user
        return cached[1]
    # Through the reverse relation: rolemapping sits above organizations.
    memberships = list(
        user.memberships.filter(is_active=True)
        .select_related("organization", "role")
        .order_by("organization__name", "organization_id")
    )
    # Django's request takes attributes; its stubs declare none for these.
    request._active_memberships = (user.pk, memberships)  # type: ignore[attr-defined]
    return memberships


def session_signed_in_by_sso(request: HttpRequest, org: Organization) -> bool:
    return org.pk in request.session.get(SSO_SESSION_KEY, [])


def org_context(request: HttpRequest, login_path: str, perm: str) -> OrgContext:
    """Resolve the organization of a console URL for the signed-in user."""
    found = login_path_lookup(login_path)
    membership = (
        None
        if found is None
        else next(
            (
                m
                for m in active_memberships(request)
                if m.organization.login_path == found
            ),
            None,
        )
    )
    if membership is None:
        raise Http404(_("No such organization."))
    ctx = OrgContext(organization=membership.organization, membership=membership)
    if (
        ctx.organization.sso_enforced
        and not ctx.is_owner
        and not session_signed_in_by_sso(request, ctx.organization)
    ):
        raise PageRefused(
            _(
                "%(organization)s requires single sign-on. Sign out, then sign in "
                "through your identity provider."
            )
            % {"organization": ctx.organization.name},
            code="sso_required",
        )
    if not ctx.can(perm):
        raise PageRefused(role_refusal(), code="role_not_allowed")
    if not address_allows(ctx.membership.user, perm):
        refusal = AddressUnproven(ctx.membership.user.email)
        raise PageRefused(str(refusal), code=refusal.code)
    return ctx


def org_view(perm: str = "org.view"):
    """Decorate a view taking (request, org: OrgContext, **kwargs).

    The URL must capture `org` (the login path).
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, org: str, *args, **kwargs):
            if not request.user.is_authenticated:
                if wants_json(request):
                    return sign_in_first_json()
                return redirect_to_login(request.get_full_path())
            try:
                ctx = org_context(request, org, perm)
            except PageRefused as exc:
                if wants_json(request):
                    return JsonResponse(
                        {"error": str(exc), "code": exc.code}, status=403
                    )
                raise
            request.org = ctx  # type: ignore[attr-defined]  # for the console's templates
            return view(request, ctx, *args, **kwargs)

        return wrapper

    return decorator


def sign_in_first_json() -> JsonResponse:
    """The JSON answer to a request that needs a signed-in user."""
    return JsonResponse(
        {"error": _("Sign in first."), "code": "not_signed_in"}, status=401
    )


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the one place that reads it, for audit rows and
    for django-axes (AXES_CLIENT_IP_CALLABLE), which holds failed sign-ins.

    With TRUSTED_PROXY_COUNT at 0, the address that connected (REMOTE_ADDR).
    Behind that many reverse proxies, each appending the address it received
    the request from to X-Forwarded-For, the entry that many from the right;
    entries further left are the client's own say and could be anything.
    None when the address is not an IP address.
    """
    address = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        hops = [hop.strip() for hop in forwarded if hop.strip()]
        if hops:
            # Fewer entries than proxies: the request skipped the outer ones,
            # and the leftmost entry was written by the first proxy it met.
            address = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(address or ""))
    except ValueError:
        return None


MAX_NEXT_CHARS = 2000


def local_next(value: str | None) -> str:
    """``value`` if it is a path on this site, else "" (no open redirect)."""
    if not value or len(value) > MAX_NEXT_CHARS:
        return ""
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return ""
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        return ""
    if not url_has_allowed_host_and_scheme(value, allowed_hosts=None):
        return ""
    return value


def page_number(request: HttpRequest) -> int:
    """The ?page= of a list view: a whole number from 1, else 1."""
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept
