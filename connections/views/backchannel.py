"""``POST /sso/backchannel-logout/``: OpenID Connect Back-Channel Logout 1.0.

The identity provider calls it, server to server, with a form-encoded
``logout_token``. The answer is 200 (empty) when the token was accepted, 400
with ``{"error": "invalid_request", "error_description", "code"}`` when it was
not, and 503 with ``{"error": "temporarily_unavailable", ...}`` when it could
not be checked now (the provider's key set, our database or cache did not
answer): the provider may send it again. Every answer is
``Cache-Control: no-store`` (spec 2.8) and none is a 500. The token itself is
never logged or echoed.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError

from connections.services.logout import LogoutRefused, backchannel_logout
from organizations.access import client_ip

logger = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
RETRY_AFTER_SECONDS = 30


def _answer(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _invalid(description: str, code: str) -> HttpResponse:
    return _answer(
        JsonResponse(
            {
                "error": "invalid_request",
                "error_description": description,
                "code": code,
            },
            status=400,
        )
    )


def _unavailable(description: str, code: str) -> HttpResponse:
    response = JsonResponse(
        {
            "error": "temporarily_unavailable",
            "error_description": description,
            "code": code,
        },
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return _answer(response)


def _form_token(request: HttpRequest) -> tuple[str | None, HttpResponse | None]:
    """The one ``logout_token`` of a form-encoded POST, or the answer refusing
    the request."""
    if request.method != "POST":
        refused = _invalid(
            _("Send the logout token in a POST request."), "method_not_post"
        )
        refused["Allow"] = "POST"
        return None, refused
    if request.content_type != FORM_CONTENT_TYPE:
        return None, _invalid(
            _("The request body must be form-encoded (%(type)s).")
            % {"type": FORM_CONTENT_TYPE},
            "not_form_encoded",
        )
    try:
        values = request.POST.getlist("logout_token")
    except (RequestDataTooBig, TooManyFieldsSent):
        return None, _invalid(_("The request body is too large."), "body_too_large")
    if len(values) != 1 or not values[0]:
        return None, _invalid(
            _("The request must carry exactly one 'logout_token'."),
            "logout_token_missing",
        )
    return values[0], None


@csrf_exempt
def backchannel_logout_view(request: HttpRequest) -> HttpResponse:
    """End the sessions a provider's logout token names (csrf-exempt: the
    provider calls it with no cookie; the token's signature is the proof)."""
    raw, refused = _form_token(request)
    if refused is not None:
        return refused
    try:
        ended = backchannel_logout(raw, ip=client_ip(request))
    except LogoutRefused as exc:
        logger.info(
            "Back-channel logout refused: step=%s connection=%s",
            exc.step,
            exc.connection_id,
        )
        if exc.unavailable:
            return _unavailable(str(exc), exc.step)
        return _invalid(str(exc), exc.step)
    except (DatabaseError, RedisError) as exc:
        logger.warning("Back-channel logout not processed: %s", type(exc).__name__)
        return _unavailable(
            _("The logout could not be processed now; send it again later."),
            "server_unavailable",
        )
    logger.info("Back-channel logout accepted: sessions_ended=%s", ended)
    return _answer(HttpResponse(status=200))


urlpatterns = [
    path(
        "sso/backchannel-logout/",
        backchannel_logout_view,
        name="sso_backchannel_logout",
    ),
]
