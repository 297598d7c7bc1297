"""The console's public keys (JWKS) and the owner's key rotation actions.

``/sso/jwks/<login_path>/`` is public: an IdP reads it to verify the client
assertions of ``private_key_jwt``. It lists the public members of the
organization's published keys and nothing else, and may be cached briefly, so
a key added for rotation reaches the IdP within minutes.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from connections.models import Connection
from connections.oidc.client_auth import PRIVATE_KEY_JWT
from connections.services.signing_keys import (
    jwks_for_org,
    published_keys,
    signing_key_activate,
    signing_key_add,
    signing_key_retire,
)
from organizations.access import OrgContext, client_ip, org_view, wants_json
from organizations.errors import ServiceError
from organizations.models import Organization
from organizations.services import login_path_lookup

# Seconds an IdP or a proxy may keep the key set: short, so a rotation's new
# key is seen soon, and long enough that sign-ins do not each fetch it.
JWKS_MAX_AGE = 300


@require_GET
def jwks(request: HttpRequest, login_path: str) -> HttpResponse:
    """The organization's public signing keys, as a JWKS (RFC 7517 5)."""
    wanted = login_path_lookup(login_path)
    org = Organization.objects.filter(login_path=wanted).first() if wanted else None
    if org is None:
        return JsonResponse(
            {"error": _("No organization has this login path."), "code": "not_found"},
            status=404,
        )
    response = JsonResponse(jwks_for_org(org))
    response["Content-Type"] = "application/jwk-set+json"
    patch_cache_control(response, public=True, max_age=JWKS_MAX_AGE)
    return response


# Days before a secret's expiry from which the console warns.
SECRET_WARNING_DAYS = 30


def jwks_uri(organization: Organization) -> str:
    """``{SITE_URL}/sso/jwks/<login_path>/``, as the IdP admin enters it."""
    site = str(settings.SITE_URL).rstrip("/")
    return f"{site}/sso/jwks/{organization.login_path}/"


def secret_warnings(connection: Connection) -> list[dict[str, Any]]:
    """Expiry warnings for the live and draft secrets expiring within 30 days."""
    today = timezone.localdate()
    seen: set[int] = set()
    warnings = []
    for label, config in (
        (_("live"), connection.live),
        (_("draft"), connection.draft),
    ):
        if config is None or config.pk in seen:
            continue
        seen.add(config.pk)
        expires_on = config.client_secret_expires_on
        if expires_on is None or not config.client_secret_encrypted:
            continue
        days_left = (expires_on - today).days
        if days_left <= SECRET_WARNING_DAYS:
            warnings.append(
                {"label": label, "expires_on": expires_on, "days_left": days_left}
            )
    return warnings


def signing_keys_context(connection: Connection) -> dict[str, Any]:
    """What the connection page shows of keys and secret expiry."""
    organization = connection.organization
    keys = published_keys(connection)
    uses = any(
        config is not None and config.token_auth_method == PRIVATE_KEY_JWT
        for config in (connection.draft, connection.live)
    )
    return {
        "signing_keys": keys,
        "uses_private_key_jwt": uses,
        "jwks_uri": jwks_uri(organization),
        "jwks_json": json.dumps(jwks_for_org(organization)) if keys else "",
        "secret_warnings": secret_warnings(connection),
    }


def _connection(org: OrgContext, connection_id: int) -> Connection:
    return get_object_or_404(
        Connection.objects.select_related("organization"),
        pk=connection_id,
        organization=org.organization,
    )


def _answer(
    request: HttpRequest,
    org: OrgContext,
    connection: Connection,
    sentence: str,
    error: ServiceError | None,
) -> HttpResponse:
    if wants_json(request):
        if error is not None:
            return JsonResponse({"error": str(error), "code": error.code}, status=400)
        return JsonResponse({"message": sentence})
    if error is not None:
        messages.error(request, str(error))
    else:
        messages.success(request, sentence)
    return redirect("connection_detail", org.organization.login_path, connection.pk)


@require_POST
@org_view("connections.manage")
def signing_key_add_view(
    request: HttpRequest, org: OrgContext, connection_id: int
) -> HttpResponse:
    connection = _connection(org, connection_id)
    try:
        key = signing_key_add(
            actor_membership=org.membership,
            connection=connection,
            alg=request.POST.get("alg") or "RS256",
            ip=client_ip(request),
        )
    except ServiceError as exc:
        return _answer(request, org, connection, "", exc)
    if key.state == key.State.ACTIVE:
        sentence = _("Key %(kid)s was added and signs the console's requests.")
    else:
        sentence = _(
            "Key %(kid)s was added and published beside the active key. Once the "
            "IdP has it (it reads the JWKS URL, or paste the key set again), "
            "switch to it."
        )
    return _answer(request, org, connection, sentence % {"kid": key.kid}, None)


@require_POST
@org_view("connections.manage")
def signing_key_activate_view(
    request: HttpRequest, org: OrgContext, connection_id: int, kid: str
) -> HttpResponse:
    connection = _connection(org, connection_id)
    try:
        signing_key_activate(
            actor_membership=org.membership,
            connection=connection,
            kid=kid,
            ip=client_ip(request),
        )
    except ServiceError as exc:
        return _answer(request, org, connection, "", exc)
    sentence = _(
        "Key %(kid)s signs the console's requests from now on. The previous key "
        "stays published until you retire it; run a check to confirm the IdP "
        "accepts the new one."
    )
    return _answer(request, org, connection, sentence % {"kid": kid}, None)


@require_POST
@org_view("connections.manage")
def signing_key_retire_view(
    request: HttpRequest, org: OrgContext, connection_id: int, kid: str
) -> HttpResponse:
    connection = _connection(org, connection_id)
    try:
        signing_key_retire(
            actor_membership=org.membership,
            connection=connection,
            kid=kid,
            ip=client_ip(request),
        )
    except ServiceError as exc:
        return _answer(request, org, connection, "", exc)
    sentence = _("Key %(kid)s was retired: it is no longer published or usable.")
    return _answer(request, org, connection, sentence % {"kid": kid}, None)


_KEY = "orgs/<str:org>/connections/<int:connection_id>/keys/"

urlpatterns = [
    path("sso/jwks/<str:login_path>/", jwks, name="sso_jwks"),
    path(_KEY + "add/", signing_key_add_view, name="signing_key_add"),
    path(
        _KEY + "<str:kid>/activate/",
        signing_key_activate_view,
        name="signing_key_activate",
    ),
    path(
        _KEY + "<str:kid>/retire/",
        signing_key_retire_view,
        name="signing_key_retire",
    ),
]
