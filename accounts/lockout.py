"""Failed password sign-ins, held by django-axes per account *and* address.

An account is held only for the address that failed: someone hammering it
from elsewhere cannot lock its owner out. config/settings.py (``AXES_*``)
points axes at the functions here: the account's canonical email, the handler,
and the answer when a sign-in is held. The client's address comes from
``organizations.access.client_ip``, like everywhere else.
"""

from __future__ import annotations

import math

from axes.handlers.database import AxesDatabaseHandler
from axes.utils import reset
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext

from accounts.models import canonical_email
from organizations.access import client_ip, wants_json

LOCKOUT_STATUS = 429


def lockout_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: " Ada@Example.test" and "ada@example.test" are
    one account, counted and reset together."""
    source = credentials if credentials is not None else request.POST
    value = source.get("username")
    return canonical_email(value) if isinstance(value, str) else None


def lockout_message() -> str:
    """The one sentence a held sign-in gets, wherever it is shown."""
    minutes = math.ceil(settings.LOGIN_THROTTLE_WINDOW / 60)
    return ngettext(
        "Too many failed sign-ins for this account from your address. Wait "
        "%(minutes)d minute and try again; if you have forgotten your password, "
        "reset it meanwhile.",
        "Too many failed sign-ins for this account from your address. Wait "
        "%(minutes)d minutes and try again; if you have forgotten your password, "
        "reset it meanwhile.",
        minutes,
    ) % {"minutes": minutes}


def is_locked_out(request: HttpRequest) -> bool:
    """Whether axes held the authenticate() call just made with ``request``.

    Axes flags the request itself (the flag its middleware answers to) when the
    combination was already held or when this failure reached the limit.
    """
    return bool(getattr(request, "axes_locked_out", False))


def password_sign_in_succeeded(request: HttpRequest, email: str) -> int:
    """Forget the failures of this account from this address only."""
    return reset(ip=client_ip(request), username=canonical_email(email))


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None,
    credentials: dict | None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the answer to a held sign-in.

    The password form already answers with its page, its sentence and 429;
    that page stays. Elsewhere (the Django admin's sign-in) the same sentence,
    as JSON for scripts, instead of axes' plain-text page.
    """
    if original_response is not None and (
        original_response.status_code == LOCKOUT_STATUS
    ):
        return original_response
    message = lockout_message()
    if wants_json(request):
        return JsonResponse(
            {"error": message, "code": "throttled"}, status=LOCKOUT_STATUS
        )
    return render(
        request,
        "accounts/locked_out.html",
        {"message": message},
        status=LOCKOUT_STATUS,
    )


class SignInAttemptsHandler(AxesDatabaseHandler):
    """Axes' database handler (attempts support staff can see and clear in the
    admin), without its work on successful sign-ins and sign-outs.

    On every sign-in, SSO included, the stock handler deletes expired attempts
    and writes an access log: queries on the SSO callback, whose cost is pinned
    (tests/connections/sso/test_query_budget.py), for a password concern. The
    password form resets its own combination instead
    (``password_sign_in_succeeded``), and expired attempts are still deleted
    on each failure. Axes' log of successful sign-ins is off
    (AXES_DISABLE_ACCESS_LOG); SSO sign-ins have their SignInEvent rows.
    """

    def user_logged_in(self, sender, request, user, **kwargs) -> None:
        return None

    def user_logged_out(self, sender, request, user, **kwargs) -> None:
        return None
