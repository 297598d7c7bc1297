"""The organization's overview and audit log."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path

from organizations.access import (
    OrgContext,
    active_memberships,
    org_view,
    page_number,
    wants_json,
)
from organizations.overview import panels, setup_checklist
from organizations.selectors import audit_page

PAGE_SIZE = 50


@org_view()
def overview(request: HttpRequest, org: OrgContext) -> HttpResponse:
    """Owners and admins: the set-up checklist. Members and viewers: their
    home, their organizations, role and where the role came from; nothing
    they cannot use."""
    if not org.can("console.view"):
        return render(
            request,
            "organizations/member_home.html",
            {"memberships": active_memberships(request)},
        )
    checklist = [
        {**item, "owner_only": not org.can(item["perm"])}
        for item in setup_checklist(org.organization)
    ]
    panel_templates, panel_context = panels(org.organization)
    return render(
        request,
        "organizations/overview.html",
        {
            **panel_context,
            "panels": panel_templates,
            "checklist": checklist,
            "done_count": sum(1 for item in checklist if item["done"]),
            # The first step not done yet: the page leads with it.
            "next_step": next((item for item in checklist if not item["done"]), None),
        },
    )


@org_view("console.view")
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
    return render(request, "organizations/audit.html", {"page": page})


urlpatterns = [
    path("orgs/<str:org>/", overview, name="org_overview"),
    path("orgs/<str:org>/audit/", audit_log, name="audit_log"),
]
