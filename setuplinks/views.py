"""Setup links: the owner's page, and the IT admin's wizard.

The owner's page (``/orgs/<org>/setup-links/``) creates a link, shows it once
and revokes it. The wizard (``/setup/...``) runs on the link this browser
opened, checked again on every request; it has no account and no console
access. Its pages call connections' services and views (the connection form,
the check, the test sign-in), never copies of them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from connections.forms import ConnectionForm
from connections.models import Connection, ConnectionCheck
from connections.services.checks import (
    NOT_QUEUED,
    check_deadline,
    check_steps_for_display,
    checks_fail_overdue,
)
from connections.services.connections import connection_uris
from connections.views.connections import check_progress
from connections.views.sso import signin_test_start
from organizations.access import OrgContext, client_ip, org_view, wants_json
from organizations.errors import ServiceError
from setuplinks.forms import SetupLinkForm
from setuplinks.models import SetupLink
from setuplinks.providers import guide_for
from setuplinks.services import (
    SetupLinkRefused,
    setup_delegate,
    setup_link_check_start,
    setup_link_connection,
    setup_link_connection_save,
    setup_link_create,
    setup_link_for_session,
    setup_link_from_token,
    setup_link_open,
    setup_link_revoke,
    setup_session_end,
)

_FINAL = (ConnectionCheck.Status.PASSED, ConnectionCheck.Status.FAILED)


# ---------------------------------------------------------------------------
# The owner's page


def _link_json(link: SetupLink) -> dict[str, Any]:
    return {
        "id": link.pk,
        "email": link.email,
        "note": link.note,
        "state": link.state,
        "connection_id": link.connection_id,
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "opened_at": link.opened_at.isoformat() if link.opened_at else None,
        "last_used_at": link.last_used_at.isoformat() if link.last_used_at else None,
    }


@never_cache
@require_http_methods(["GET", "POST"])
@org_view("connections.manage")
def setup_link_list(request: HttpRequest, org: OrgContext) -> HttpResponse:
    """List the links; POST creates one and shows it, once."""
    form = SetupLinkForm(
        request.POST if request.method == "POST" else None,
        organization=org.organization,
    )
    new_url = ""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                link, new_url = setup_link_create(
                    actor_membership=org.membership,
                    email=form.cleaned_data["email"],
                    note=form.cleaned_data.get("note") or "",
                    connection=form.cleaned_data.get("connection"),
                    ip=client_ip(request),
                )
            except ServiceError as exc:
                if wants_json(request):
                    return JsonResponse(
                        {"error": str(exc), "code": exc.code}, status=400
                    )
                form.add_error(None, str(exc))
            else:
                if wants_json(request):
                    body = {**_link_json(link), "url": new_url}
                    return JsonResponse(body, status=201)
                status = 201
                form = SetupLinkForm(organization=org.organization)
        elif wants_json(request):
            return JsonResponse(
                {"error": form.errors.get_json_data(), "code": "invalid_form"},
                status=400,
            )
    links = list(
        SetupLink.objects.filter(organization=org.organization)
        .select_related("created_by", "connection")
        .order_by("-created_at", "-id")[:100]
    )
    if wants_json(request):
        return JsonResponse([_link_json(link) for link in links], safe=False)
    return render(
        request,
        "setuplinks/setup_links.html",
        {"form": form, "links": links, "new_url": new_url},
        status=status,
    )


@require_POST
@org_view("connections.manage")
def setup_link_revoke_view(
    request: HttpRequest, org: OrgContext, link_id: int
) -> HttpResponse:
    link = get_object_or_404(SetupLink, pk=link_id, organization=org.organization)
    link = setup_link_revoke(
        actor_membership=org.membership, link=link, ip=client_ip(request)
    )
    if wants_json(request):
        return JsonResponse(_link_json(link))
    messages.success(
        request,
        _(
            "The setup link for %(email)s is revoked: its browser is refused from "
            "its next page on."
        )
        % {"email": link.email},
    )
    return redirect("setup_link_list", org.organization.login_path)


# ---------------------------------------------------------------------------
# The IT admin's wizard


def _refused(request: HttpRequest, exc: SetupLinkRefused) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"error": str(exc), "code": exc.code}, status=exc.status)
    return render(
        request,
        "setuplinks/refused.html",
        {"message": str(exc), "code": exc.code},
        status=exc.status,
    )


def setup_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Run ``view(request, link, ...)`` for the link this browser opened,
    checked now; refuse with a page that says why otherwise."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            link = setup_link_for_session(request.session)
        except SetupLinkRefused as exc:
            return _refused(request, exc)
        response = view(request, link, *args, **kwargs)
        # Nothing a setup page shows belongs in a shared cache or history.
        response["Cache-Control"] = "no-store"
        return response

    return wrapper


@never_cache
@require_http_methods(["GET", "POST"])
def setup_link_open_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link itself: a page that says what it is; its button opens it."""
    try:
        if request.method == "POST":
            setup_link_open(token=token, session=request.session, ip=client_ip(request))
            return redirect("setup_home")
        link = setup_link_from_token(token)
    except SetupLinkRefused as exc:
        return _refused(request, exc)
    try:
        held = setup_link_for_session(request.session)
    except SetupLinkRefused:
        held = None
    if held is not None and held.pk == link.pk:
        return redirect("setup_home")
    taken = bool(link.binding_hash)
    return render(
        request,
        "setuplinks/open.html",
        {"link": link, "taken": taken},
        status=409 if taken else 200,
    )


def _providers() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in Connection.Provider.choices]


def _latest_checks(
    connection: Connection | None, key: str
) -> tuple[ConnectionCheck | None, ConnectionCheck | None]:
    if connection is None or connection.draft is None:
        return None, None
    checks = ConnectionCheck.objects.filter(
        connection=connection, config=connection.draft
    ).order_by("-created_at", "-id")
    check = checks.filter(kind=ConnectionCheck.Kind.CHECK).first()
    test = checks.filter(kind=ConnectionCheck.Kind.TEST_SIGNIN, result__by=key).first()
    return check, test


@never_cache
@setup_view
def setup_home(request: HttpRequest, link: SetupLink) -> HttpResponse:
    connection = setup_link_connection(link)
    check, test = _latest_checks(connection, setup_delegate(link).key)
    return render(
        request,
        "setuplinks/home.html",
        {
            "link": link,
            "setup_org": link.organization,
            "connection": connection,
            "providers": _providers(),
            "current_provider": connection.provider if connection else "",
            "check": check,
            "test": test,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@setup_view
def setup_configure(request: HttpRequest, link: SetupLink) -> HttpResponse:
    """The connection form (connections' own), with the URIs to paste."""
    connection = setup_link_connection(link)
    provider = request.GET.get("provider") or (
        connection.provider if connection else ""
    )
    if provider not in Connection.Provider.values:
        provider = Connection.Provider.values[0]
    initial = (
        ConnectionForm.initial_for(connection)
        if connection is not None
        else {"name": link.organization.name}
    )
    initial["provider"] = provider
    editing = connection is not None and connection.draft is not None
    form = ConnectionForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        editing=editing,
    )
    if request.method == "POST" and form.is_valid():
        try:
            setup_link_connection_save(
                session=request.session, ip=client_ip(request), **form.service_kwargs()
            )
        except SetupLinkRefused as exc:
            return _refused(request, exc)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _(
                    "Saved as a draft: sign-ins do not use it until the owner "
                    "publishes it. Next: run the check."
                ),
            )
            return redirect("setup_home")
    return render(
        request,
        "setuplinks/configure.html",
        {
            "link": link,
            "setup_org": link.organization,
            "connection": connection,
            "form": form,
            "guide": guide_for(provider),
            "provider": provider,
            "provider_label": dict(_providers()).get(provider, provider),
            "uris": connection_uris(link.organization),
        },
        status=400 if form.is_bound else 200,
    )


@require_POST
@setup_view
def setup_check_start(request: HttpRequest, link: SetupLink) -> HttpResponse:
    try:
        check = setup_link_check_start(session=request.session, ip=client_ip(request))
    except SetupLinkRefused as exc:
        return _refused(request, exc)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("setup_home")
    check.refresh_from_db()
    if check.result.get("code") == NOT_QUEUED:
        messages.error(
            request,
            _(
                "The check could not be queued: the task queue is not reachable. "
                "Try again in a minute, or tell the organization's owner."
            ),
        )
    return redirect("setup_check_detail", check.pk)


@never_cache
@setup_view
def setup_check_detail(
    request: HttpRequest, link: SetupLink, check_id: int
) -> HttpResponse:
    """A check or test sign-in of the link's connection, watched live. A test
    sign-in is shown only to whoever ran it (its claims are theirs)."""
    delegate = setup_delegate(link)
    check = get_object_or_404(
        ConnectionCheck.objects.select_related("connection__draft"),
        pk=check_id,
        connection_id=link.connection_id or 0,
        connection__organization_id=link.organization_id,
        kind__in=(ConnectionCheck.Kind.CHECK, ConnectionCheck.Kind.TEST_SIGNIN),
    )
    if (
        check.kind == ConnectionCheck.Kind.TEST_SIGNIN
        and check.result.get("by") != delegate.key
    ):
        return _refused(
            request,
            SetupLinkRefused(
                _("This test sign-in was run by someone else; only they see it."),
                code="setup_link_not_yours",
                status=403,
            ),
        )
    if check.status not in _FINAL and checks_fail_overdue(check_id=check.pk):
        check.refresh_from_db()
    steps = check_steps_for_display(check)
    deadline = check_deadline(check)
    if wants_json(request):
        return JsonResponse(check_progress(check, steps, deadline))
    connection = check.connection
    return render(
        request,
        "setuplinks/check.html",
        {
            "link": link,
            "setup_org": link.organization,
            "check": check,
            "connection": connection,
            "steps": steps,
            "final": check.status in _FINAL,
            "deadline": deadline,
            "covers_draft": check.config_id == connection.draft_id
            and check.fingerprint == getattr(connection.draft, "fingerprint", None),
        },
    )


@require_POST
@setup_view
def setup_test_signin(request: HttpRequest, link: SetupLink) -> HttpResponse:
    """Off to the IdP with the draft; the callback shows the result here."""
    connection = setup_link_connection(link)
    if connection is None or connection.draft is None:
        messages.error(request, _("Save the connection's details first."))
        return redirect("setup_home")
    return signin_test_start(
        request, connection=connection, delegate=setup_delegate(link)
    )


@require_http_methods(["GET", "POST"])
@setup_view
def setup_publish(request: HttpRequest, link: SetupLink) -> HttpResponse:
    """Publishing is not something a setup link does: say so, plainly."""
    return _refused(
        request,
        SetupLinkRefused(
            _(
                "A setup link lets you configure, check and test the draft "
                "connection only. Publishing it, which switches the organization "
                "to single sign-on, is for the organization's owner: tell them the "
                "draft is ready."
            ),
            code="setup_link_publish_refused",
            status=403,
        ),
    )


@require_POST
def setup_leave(request: HttpRequest) -> HttpResponse:
    setup_session_end(request.session)
    return render(request, "setuplinks/left.html")
