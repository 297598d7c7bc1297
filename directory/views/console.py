"""The Directory sync page: the SCIM base URL, tokens, counts and the last
sync events (owners and admins)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from directory.models import ScimToken
from directory.selectors import directory_summary
from directory.services import token_create, token_revoke
from directory.views.scim import base_url
from organizations.access import OrgContext, client_ip, org_view, wants_json
from organizations.errors import ServiceError


@require_http_methods(["GET", "POST"])
@org_view("directory.manage")
def directory_page(request: HttpRequest, org: OrgContext) -> HttpResponse:
    organization = org.organization
    new_token = None
    if request.method == "POST":
        try:
            token, raw = token_create(
                actor_membership=org.membership,
                name=request.POST.get("name", ""),
                ip=client_ip(request),
            )
        except ServiceError as exc:
            if wants_json(request):
                return JsonResponse({"error": str(exc), "code": exc.code}, status=400)
            messages.error(request, str(exc))
            return redirect("directory", organization.login_path)
        if wants_json(request):
            return JsonResponse(
                {
                    "id": token.pk,
                    "name": token.name,
                    "token": raw,
                    "created_at": token.created_at.isoformat(),
                },
                status=201,
            )
        # Shown once, on this answer; never stored, never in a redirect.
        new_token = {"name": token.name, "value": raw}
    summary = directory_summary(organization)
    if wants_json(request):
        return JsonResponse(
            {
                "base_url": base_url(organization.login_path),
                "users": summary.users,
                "active_users": summary.active_users,
                "groups": summary.groups,
                "tokens": [
                    {
                        "id": t.pk,
                        "name": t.name,
                        "prefix": t.prefix,
                        "created_at": t.created_at.isoformat(),
                        "last_used_at": (
                            t.last_used_at.isoformat() if t.last_used_at else None
                        ),
                        "revoked": t.is_revoked,
                    }
                    for t in summary.tokens
                ],
            }
        )
    response = render(
        request,
        "directory/directory.html",
        {
            "base_url": base_url(organization.login_path),
            "summary": summary,
            "new_token": new_token,
        },
    )
    if new_token:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@org_view("directory.manage")
def token_revoke_view(
    request: HttpRequest, org: OrgContext, token_id: int
) -> HttpResponse:
    get_object_or_404(ScimToken, pk=token_id, organization=org.organization)
    try:
        token = token_revoke(
            actor_membership=org.membership, token_id=token_id, ip=client_ip(request)
        )
    except ServiceError as exc:
        if wants_json(request):
            return JsonResponse({"error": str(exc), "code": exc.code}, status=404)
        messages.error(request, str(exc))
        return redirect("directory", org.organization.login_path)
    if wants_json(request):
        return JsonResponse({"id": token.pk, "revoked": True})
    messages.success(
        request,
        _("The token “%(name)s” is revoked; directories using it are refused now.")
        % {"name": token.name},
    )
    return redirect("directory", org.organization.login_path)


def scim_guide(request: HttpRequest) -> HttpResponse:
    """The set-up guide (docs/scim-setup.md) as text, for IdP admins and the
    ServiceProviderConfig's documentationUri."""
    path = Path(settings.BASE_DIR) / "docs" / "scim-setup.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Http404(_("The guide is not installed.")) from exc
    return HttpResponse(text, content_type="text/markdown; charset=utf-8")
