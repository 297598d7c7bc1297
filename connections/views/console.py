"""The organization's overview, members and audit log."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from rolemapping.models import Membership, Role

from ..access import OrgContext, client_ip, org_view, page_number, wants_json
from ..errors import ServiceError
from ..selectors import (
    audit_page,
    connections_failing_health,
    members_page,
    setup_checklist,
)
from ..services.orgs import membership_change_role

PAGE_SIZE = 50


@org_view()
def overview(request: HttpRequest, org: OrgContext) -> HttpResponse:
    checklist = setup_checklist(org.organization)
    return render(
        request,
        "connections/overview.html",
        {
            "checklist": checklist,
            "done_count": sum(1 for item in checklist if item["done"]),
            "health_alerts": connections_failing_health(org.organization),
        },
    )


@org_view()
def member_list(request: HttpRequest, org: OrgContext) -> HttpResponse:
    page = members_page(org.organization, page_number(request), PAGE_SIZE)
    if wants_json(request):
        return JsonResponse(
            [
                {
                    "email": m.user.email,
                    "role": m.role.slug,
                    "source": m.source,
                    "managed_by_idp": m.managed_by_idp,
                    "is_active": m.is_active,
                }
                for m in page
            ],
            safe=False,
        )
    roles = [
        (slug, label) for slug, label in Role.Slug.choices if slug != Role.Slug.OWNER
    ]
    return render(
        request,
        "connections/members.html",
        {"page": page, "roles": roles, "can_manage": org.can("members.manage")},
    )


@require_POST
@org_view("members.manage")
def member_role(request: HttpRequest, org: OrgContext, member_id: int) -> HttpResponse:
    membership = get_object_or_404(
        Membership.objects.select_related("user", "role"),
        pk=member_id,
        organization=org.organization,
    )
    try:
        membership_change_role(
            actor_membership=org.membership,
            membership=membership,
            role_slug=request.POST.get("role", ""),
            ip=client_ip(request),
        )
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("member_list", org.organization.login_path)
    messages.success(request, f"{membership.user.email}'s role was changed.")
    return redirect("member_list", org.organization.login_path)


@org_view()
def audit_log(request: HttpRequest, org: OrgContext) -> HttpResponse:
    page = audit_page(org.organization, page_number(request), PAGE_SIZE)
    if wants_json(request):
        return JsonResponse(
            [
                {
                    "action": e.action,
                    "actor": e.actor.email if e.actor else None,
                    "target": e.target,
                    "details": e.details,
                    "created_at": e.created_at.isoformat(),
                }
                for e in page
            ],
            safe=False,
        )
    return render(request, "connections/audit.html", {"page": page})


urlpatterns = [
    path("orgs/<str:org>/", overview, name="org_overview"),
    path("orgs/<str:org>/members/", member_list, name="member_list"),
    path(
        "orgs/<str:org>/members/<int:member_id>/role/",
        member_role,
        name="member_role",
    ),
    path("orgs/<str:org>/audit/", audit_log, name="audit_log"),
]
