"""OIDC connections: list, create, edit, check, and the irreversible publish.

Every page has a JSON twin for scripts and for the console's own polling (see
the contract). None of them ever renders or returns a client secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from connections.forms import ConnectionForm, PublishForm
from connections.models import Connection, ConnectionCheck
from connections.oidc.providers import profile_for
from connections.selectors import (
    refusals_before_idp,
    signin_attempts_page,
    switch_affected,
)
from connections.services.checks import (
    NOT_QUEUED,
    check_deadline,
    check_steps_for_display,
    checks_fail_overdue,
    connection_check_start,
)
from connections.services.connections import (
    connection_create,
    connection_draft_tested,
    connection_publish,
    connection_publish_blockers,
    connection_update,
    connection_uris,
    connections_for_org,
    latest_finished_check,
)
from connections.services.sso import signin_test_stage
from connections.views.signing_keys import jwks_uri, signing_keys_context
from organizations.access import (
    OrgContext,
    SignedInRequest,
    client_ip,
    org_view,
    page_number,
    wants_json,
)
from organizations.errors import PermissionDenied, ServiceError
from organizations.workers import worker_missing_for, worker_missing_sentence

HISTORY_SIZE = 25
SIGNINS_PAGE_SIZE = 20
_FINAL = (ConnectionCheck.Status.PASSED, ConnectionCheck.Status.FAILED)


def _waits_for_missing_worker(check: ConnectionCheck | None) -> bool:
    """A check no worker has started, queued a while ago, and no worker there."""
    return (
        check is not None
        and check.started_at is None
        and check.status
        in (ConnectionCheck.Status.QUEUED, ConnectionCheck.Status.RUNNING)
        and worker_missing_for(check.created_at)
    )


def check_progress(
    check: ConnectionCheck, steps: list[dict[str, str]], deadline: datetime | None
) -> dict[str, Any]:
    """A check's progress as its pages poll it (JSON): the console's check
    page and a setup link's wizard read the same keys."""
    return {
        "id": check.pk,
        "kind": check.kind,
        "status": check.status,
        # Unfinished by then, it is failed (the worker running it was lost).
        "deadline": deadline.isoformat() if deadline else None,
        "steps": [
            {
                "name": s.get("name", ""),
                "status": s.get("status", ""),
                "detail": s.get("detail", ""),
                "fix": s.get("fix", ""),
            }
            for s in steps
        ],
    }


def _connection_or_404(org: OrgContext, connection_id: int) -> Connection:
    return get_object_or_404(
        Connection.objects.select_related(
            "draft__created_by", "live__created_by", "organization"
        ),
        pk=connection_id,
        organization=org.organization,
    )


def _check_summary(check: ConnectionCheck | None, org: OrgContext) -> dict | None:
    if check is None:
        return None
    return {
        "id": check.pk,
        "kind": check.kind,
        "status": check.status,
        "created_at": check.created_at.isoformat(),
        "finished_at": check.finished_at.isoformat() if check.finished_at else None,
        "url": reverse(
            "check_detail",
            args=[org.organization.login_path, check.connection_id, check.pk],
        ),
    }


def _connection_json(
    connection: Connection,
    org: OrgContext,
    *,
    draft_tested: bool,
    latest_check: dict | None,
) -> dict[str, Any]:
    uris = connection_uris(org.organization)
    return {
        "id": connection.pk,
        "name": connection.name,
        "provider": connection.provider,
        "status": connection.status,
        "health": connection.health,
        "published_at": (
            connection.published_at.isoformat() if connection.published_at else None
        ),
        "redirect_uri": uris["redirect_uri"],
        "login_uri": uris["login_uri"],
        "initiate_login_uri": uris["initiate_login_uri"],
        "logout_redirect_uri": uris["logout_redirect_uri"],
        "backchannel_logout_uri": uris["backchannel_logout_uri"],
        "draft_tested": draft_tested,
        "latest_check": latest_check,
        **_auth_json(connection, org),
    }


def _auth_json(connection: Connection, org: OrgContext) -> dict[str, Any]:
    """The draft's client authentication, without any secret or private key."""
    draft = connection.draft
    return {
        "token_auth_method": draft.token_auth_method if draft else "",
        "client_secret_expires_on": (
            draft.client_secret_expires_on.isoformat()
            if draft and draft.client_secret_expires_on
            else None
        ),
        "jwks_uri": jwks_uri(org.organization),
    }


@never_cache
@org_view("console.view")
def connection_list(request: HttpRequest, org: OrgContext) -> HttpResponse:
    # A check lost with its worker shows as failed, not running, from its deadline.
    checks_fail_overdue(organization_id=org.organization.pk)
    connections = list(connections_for_org(org.organization))
    rows: list[dict[str, Any]] = [
        {"connection": c, "draft_tested": connection_draft_tested(c)}
        for c in connections
    ]
    if wants_json(request):
        return JsonResponse(
            [
                _connection_json(
                    row["connection"],
                    org,
                    draft_tested=row["draft_tested"],
                    latest_check=(
                        {
                            "id": row["connection"].latest_check_id,
                            "status": row["connection"].latest_check_status,
                        }
                        if row["connection"].latest_check_id
                        else None
                    ),
                )
                for row in rows
            ],
            safe=False,
        )
    return render(
        request,
        "connections/connection_list.html",
        {"rows": rows, "can_manage": org.can("connections.manage")},
    )


@require_http_methods(["GET", "POST"])
@org_view("connections.manage")
def connection_new(request: HttpRequest, org: OrgContext) -> HttpResponse:
    form = ConnectionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = connection_create(
                actor_membership=org.membership,
                ip=client_ip(request),
                **form.service_kwargs(),
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _(
                    "'%(connection)s' was saved as a draft. Next: add the URIs below "
                    "to your IdP app, then test the configuration."
                )
                % {"connection": connection.name},
            )
            return redirect(
                "connection_detail", org.organization.login_path, connection.pk
            )
    return render(
        request,
        "connections/connection_form.html",
        {"form": form, "connection": None},
        status=400 if form.is_bound else 200,
    )


@never_cache
@org_view("console.view")
def connection_detail(
    request: SignedInRequest, org: OrgContext, connection_id: int
) -> HttpResponse:
    connection = _connection_or_404(org, connection_id)
    checks_fail_overdue(connection=connection)
    # Test sign-ins are in the history too: publishing needs one.
    history = list(
        ConnectionCheck.objects.filter(connection=connection)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:HISTORY_SIZE]
    )
    latest = next(
        (c for c in history if c.kind != ConnectionCheck.Kind.TEST_SIGNIN), None
    )
    tested = connection_draft_tested(connection, latest_finished_check(connection))
    if wants_json(request):
        return JsonResponse(
            _connection_json(
                connection,
                org,
                draft_tested=tested,
                latest_check=_check_summary(latest, org),
            )
        )
    blockers = connection_publish_blockers(
        connection=connection, actor=request.user, organization=org.organization
    )
    can_manage = org.can("connections.manage")
    signins = refusals = None
    if can_manage:  # the panel lists people's addresses: owners only
        signins = signin_attempts_page(
            connection, page_number(request), SIGNINS_PAGE_SIZE
        )
        refusals = refusals_before_idp(connection)
    return render(
        request,
        "connections/connection_detail.html",
        {
            "connection": connection,
            "uris": connection_uris(org.organization),
            "history": history,
            "latest": latest,
            "in_progress": latest is not None and latest.status not in _FINAL,
            "worker_missing": _waits_for_missing_worker(latest),
            "worker_sentence": worker_missing_sentence(),
            "draft_tested": tested,
            "draft_is_live": connection.live_id == connection.draft_id,
            "blockers": blockers,
            "page": signins,
            "refusals": refusals,
            "can_manage": can_manage,
            "can_publish": org.can("sso.enforce"),
            "profile": profile_for(connection.provider),
            **signing_keys_context(connection),
        },
    )


@require_http_methods(["GET", "POST"])
@org_view("connections.manage")
def connection_edit(
    request: HttpRequest, org: OrgContext, connection_id: int
) -> HttpResponse:
    connection = _connection_or_404(org, connection_id)
    form = ConnectionForm(
        request.POST if request.method == "POST" else None,
        initial=ConnectionForm.initial_for(connection),
        editing=True,
    )
    if request.method == "POST" and form.is_valid():
        try:
            connection_update(
                actor_membership=org.membership,
                connection=connection,
                ip=client_ip(request),
                **form.service_kwargs(),
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _(
                    "The draft was saved. The live configuration is unchanged until "
                    "you test the draft and publish it."
                ),
            )
            return redirect(
                "connection_detail", org.organization.login_path, connection.pk
            )
    return render(
        request,
        "connections/connection_form.html",
        {"form": form, "connection": connection},
        status=400 if form.is_bound else 200,
    )


@require_POST
@org_view("connections.manage")
def connection_test(
    request: HttpRequest, org: OrgContext, connection_id: int
) -> HttpResponse:
    connection = _connection_or_404(org, connection_id)
    try:
        check = connection_check_start(
            actor_membership=org.membership,
            connection=connection,
            ip=client_ip(request),
        )
    except ServiceError as exc:
        if wants_json(request):
            return JsonResponse({"error": str(exc), "code": exc.code}, status=400)
        messages.error(request, str(exc))
        return redirect("connection_detail", org.organization.login_path, connection.pk)
    # On commit the check was queued, or failed at once because the task
    # queue refused it (or, without a broker, it ran): read what it is now.
    check.refresh_from_db()
    if check.result.get("code") == NOT_QUEUED:
        sentence = _(
            "The check could not be queued: the task queue (broker) is not "
            "reachable. Try again when it is back."
        )
        if wants_json(request):
            summary = _check_summary(check, org) or {}
            return JsonResponse(
                {**summary, "error": sentence, "code": NOT_QUEUED}, status=503
            )
        messages.error(request, sentence)
    elif wants_json(request):
        return JsonResponse(_check_summary(check, org), status=202)
    return redirect(
        "check_detail", org.organization.login_path, connection.pk, check.pk
    )


@never_cache
@org_view("console.view")
def check_detail(
    request: HttpRequest, org: OrgContext, connection_id: int, check_id: int
) -> HttpResponse:
    check = get_object_or_404(
        ConnectionCheck.objects.select_related(
            "connection__draft", "connection__live", "created_by"
        ),
        pk=check_id,
        connection_id=connection_id,
        connection__organization=org.organization,
    )
    if check.kind == ConnectionCheck.Kind.TEST_SIGNIN and not org.can(
        "connections.manage"
    ):
        # A test sign-in lists every verified claim of whoever signed in.
        raise Forbidden(
            _(
                "A test sign-in's result lists the claims of the person who signed "
                "in, so only those who manage connections (the owner) can open it."
            )
        )
    if check.status not in _FINAL and checks_fail_overdue(check_id=check.pk):
        check.refresh_from_db()
    steps = check_steps_for_display(check)
    deadline = check_deadline(check)
    failed_stage = (
        signin_test_stage(str(check.result.get("step") or ""))
        if check.kind == ConnectionCheck.Kind.TEST_SIGNIN
        and check.status == ConnectionCheck.Status.FAILED
        else ""
    )
    if wants_json(request):
        return JsonResponse(
            check_progress(check, steps, deadline)
            # Queued a while and no worker heartbeat: the page says so.
            | {"worker_missing": _waits_for_missing_worker(check)}
        )
    connection = check.connection
    return render(
        request,
        "connections/check_detail.html",
        {
            "check": check,
            "connection": connection,
            "steps": steps,
            "final": check.status in _FINAL,
            "deadline": deadline,
            "covers_draft": check.config_id == connection.draft_id
            and check.fingerprint == getattr(connection.draft, "fingerprint", None),
            "is_live_config": check.config_id == connection.live_id,
            "can_manage": org.can("connections.manage"),
            "failed_stage": failed_stage,
            "worker_missing": _waits_for_missing_worker(check),
            "worker_sentence": worker_missing_sentence(),
        },
    )


@require_http_methods(["GET", "POST"])
@org_view("sso.enforce")
def connection_publish_view(
    request: SignedInRequest, org: OrgContext, connection_id: int
) -> HttpResponse:
    connection = _connection_or_404(org, connection_id)
    form = PublishForm(request.POST if request.method == "POST" else None)
    first_publish = not org.organization.sso_enforced
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                connection_publish(
                    actor_membership=org.membership,
                    connection=connection,
                    confirm=form.cleaned_data["confirm"],
                    ip=client_ip(request),
                )
            except PermissionDenied as exc:
                messages.error(request, str(exc))
                return redirect(
                    "connection_detail", org.organization.login_path, connection.pk
                )
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _(
                        "The draft is live and SSO is enforced: everyone but the "
                        "owner now signs in through your IdP."
                    )
                    if first_publish
                    else _("The draft is live; sign-ins use it from now on."),
                )
                return redirect(
                    "connection_detail", org.organization.login_path, connection.pk
                )
        status = 400
    blockers = connection_publish_blockers(
        connection=connection, actor=request.user, organization=org.organization
    )
    return render(
        request,
        "connections/connection_publish.html",
        {
            "connection": connection,
            "form": form,
            "blockers": blockers,
            "first_publish": first_publish,
            "uris": connection_uris(org.organization),
            **(switch_affected(org.organization) if first_publish else {}),
        },
        status=status,
    )


urlpatterns = [
    path("orgs/<str:org>/connections/", connection_list, name="connection_list"),
    path("orgs/<str:org>/connections/new/", connection_new, name="connection_new"),
    path(
        "orgs/<str:org>/connections/<int:connection_id>/",
        connection_detail,
        name="connection_detail",
    ),
    path(
        "orgs/<str:org>/connections/<int:connection_id>/edit/",
        connection_edit,
        name="connection_edit",
    ),
    path(
        "orgs/<str:org>/connections/<int:connection_id>/test/",
        connection_test,
        name="connection_test",
    ),
    path(
        "orgs/<str:org>/connections/<int:connection_id>/checks/<int:check_id>/",
        check_detail,
        name="check_detail",
    ),
    path(
        "orgs/<str:org>/connections/<int:connection_id>/publish/",
        connection_publish_view,
        name="connection_publish",
    ),
]
