"""The domains page: add a domain, see its TXT record, verify it, remove it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from domains.models import Domain
from domains.names import VERIFICATION_RECORD_PREFIX
from domains.services import (
    MISSES_BEFORE_FAILING,
    domain_add,
    domain_checks_expire,
    domain_is_checking,
    domain_record,
    domain_remove,
    domain_request_check,
    domains_for_org,
)
from organizations.access import OrgContext, client_ip, org_view, wants_json
from organizations.broker import publish_watch
from organizations.errors import ServiceError
from organizations.workers import worker_missing_for, worker_missing_sentence


class DomainAddForm(forms.Form):
    # The service checks the name and says what is wrong; the form only carries
    # it, so every refusal reads the same whichever way it arrives.
    domain = forms.CharField(
        label=gettext_lazy("Domain"),
        required=False,
        max_length=1024,
        help_text=gettext_lazy(
            "The part after the @ in your people's email addresses, like acme.com."
        ),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "none",
                "placeholder": "acme.com",
                "aria-describedby": "id_domain-help",
            }
        ),
    )


def domain_json(domain: Domain) -> dict:
    """A domain as the contract's JSON view shows it."""
    txt_name, txt_value = domain_record(domain)
    return {
        "id": domain.pk,
        "domain": domain.name,
        "status": domain.status,
        "txt_name": txt_name,
        "txt_value": txt_value,
        "detail": domain.detail,
    }


# The code a JSON answer carries when the check could not be handed to a worker.
NOT_QUEUED = "task_queue_unreachable"


def check_json(domain: Domain) -> dict:
    """The state of a domain's check: "checking" until the requested one reports."""
    checking = domain_is_checking(domain)
    return {
        "id": domain.pk,
        "domain": domain.name,
        "status": "checking" if checking else domain.status,
        "detail": domain.detail,
        # Queued a while and no worker heartbeat: the page says so.
        "worker_missing": checking
        and domain.check_requested_at is not None
        and worker_missing_for(domain.check_requested_at),
    }


def _require_manage(org: OrgContext) -> None:
    if not org.can("domains.manage"):
        raise PermissionDenied(
            _("Only the organization's owner can add, verify or remove domains.")
        )


def _refusal_json(exc: ServiceError) -> JsonResponse:
    return JsonResponse({"error": str(exc), "code": exc.code}, status=400)


def _list_url(org: OrgContext, domain: Domain | None = None) -> str:
    url = reverse("domain_list", args=[org.organization.login_path])
    return f"{url}#domain-{domain.pk}" if domain else url


@require_http_methods(["GET", "POST"])
@org_view("console.view")
def domain_list(request: HttpRequest, org: OrgContext) -> HttpResponse:
    form = DomainAddForm(request.POST) if request.method == "POST" else DomainAddForm()
    status = 200
    if request.method == "POST":
        _require_manage(org)
        if form.is_valid():
            try:
                domain = domain_add(
                    actor_membership=org.membership,
                    name=form.cleaned_data["domain"],
                    ip=client_ip(request),
                )
            except ServiceError as exc:
                if wants_json(request):
                    return _refusal_json(exc)
                form.add_error("domain", str(exc))
            else:
                if wants_json(request):
                    return JsonResponse(domain_json(domain), status=201)
                messages.success(
                    request,
                    _(
                        "%(domain)s was added. Create the TXT record shown for it, "
                        "then choose Verify now."
                    )
                    % {"domain": domain.name},
                )
                return redirect(_list_url(org, domain))
        elif wants_json(request):
            return JsonResponse(
                {
                    "error": " ".join(str(e) for e in form.errors.get("domain", [])),
                    "code": "form_invalid",
                },
                status=400,
            )
        status = 400

    domain_checks_expire(organization_id=org.organization.pk)
    domains = domains_for_org(org.organization)
    if wants_json(request):
        return JsonResponse([domain_json(d) for d in domains], safe=False)
    rows = []
    for domain in domains:
        txt_name, txt_value = domain_record(domain)
        rows.append(
            {
                "domain": domain,
                "txt_name": txt_name,
                "txt_value": txt_value,
                "checking": domain_is_checking(domain),
                "worker_missing": domain_is_checking(domain)
                and domain.check_requested_at is not None
                and worker_missing_for(domain.check_requested_at),
                "name_copy_id": f"txt-name-{domain.pk}",
                "value_copy_id": f"txt-value-{domain.pk}",
            }
        )
    return render(
        request,
        "domains/domains.html",
        {
            "form": form,
            "rows": rows,
            "can_manage": org.can("domains.manage"),
            "record_prefix": VERIFICATION_RECORD_PREFIX,
            "misses_before_failing": MISSES_BEFORE_FAILING,
            "worker_sentence": worker_missing_sentence(),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@org_view("console.view")
def domain_verify(
    request: HttpRequest, org: OrgContext, domain_id: int
) -> HttpResponse:
    """POST starts a check; GET (JSON) tells whether it is still running."""
    domain = get_object_or_404(Domain, pk=domain_id, organization=org.organization)
    if request.method == "GET":
        if domain_checks_expire(domain_id=domain.pk):
            domain.refresh_from_db()
        if wants_json(request):
            return JsonResponse(check_json(domain))
        return redirect(_list_url(org, domain))

    _require_manage(org)
    try:
        with publish_watch() as queue:
            queued = domain_request_check(
                actor_membership=org.membership, domain=domain, ip=client_ip(request)
            )
    except ServiceError as exc:
        if wants_json(request):
            return _refusal_json(exc)
        messages.error(request, str(exc))
        return redirect(_list_url(org))
    # Without a broker the check has already run by now (in-process, on commit).
    domain.refresh_from_db()
    names = {"domain": domain.name}
    if queue.failed:
        # The task queue refused: nothing is checking; the domain says so too.
        sentence = (
            _(
                "The check of %(domain)s could not be queued: the task queue (broker) "
                "is not reachable. Try again when it is back."
            )
            % names
        )
        if wants_json(request):
            return JsonResponse(
                {**check_json(domain), "error": sentence, "code": NOT_QUEUED},
                status=503,
            )
        messages.error(request, sentence)
        return redirect(_list_url(org, domain))
    if wants_json(request):
        return JsonResponse(check_json(domain), status=202)
    if domain_is_checking(domain):
        messages.info(
            request,
            _(
                "Checking the TXT record of %(domain)s; this page shows the result "
                "when the check is done."
            )
            % names
            if queued
            else _("A check of %(domain)s is already running.") % names,
        )
    elif domain.status == Domain.Status.VERIFIED:
        messages.success(request, _("%(domain)s is verified.") % names)
    else:
        messages.warning(
            request, _("%(domain)s is not verified yet; see the details below.") % names
        )
    return redirect(_list_url(org, domain))


@require_http_methods(["GET", "POST"])
@org_view("console.view")
def domain_delete(
    request: HttpRequest, org: OrgContext, domain_id: int
) -> HttpResponse:
    """POST removes the domain. A verified one routes people to the
    organization's sign-in, so the page asks first (GET, or a POST without
    ``confirm``); scripts (JSON) remove it at once, as before."""
    domain = get_object_or_404(Domain, pk=domain_id, organization=org.organization)
    _require_manage(org)
    needs_confirmation = domain.status == Domain.Status.VERIFIED and not wants_json(
        request
    )
    if request.method == "GET" or (
        needs_confirmation and request.POST.get("confirm") != "yes"
    ):
        if domain.status != Domain.Status.VERIFIED:
            return redirect(_list_url(org, domain))
        return render(
            request,
            "domains/domain_remove.html",
            {"domain": domain, "sso_enforced": org.organization.sso_enforced},
        )
    try:
        domain_remove(
            actor_membership=org.membership, domain=domain, ip=client_ip(request)
        )
    except ServiceError as exc:
        if wants_json(request):
            return _refusal_json(exc)
        messages.error(request, str(exc))
        return redirect(_list_url(org))
    if wants_json(request):
        return HttpResponse(status=204)
    messages.success(request, _("%(domain)s was removed.") % {"domain": domain.name})
    return redirect(_list_url(org))


urlpatterns = [
    path("orgs/<str:org>/domains/", domain_list, name="domain_list"),
    path(
        "orgs/<str:org>/domains/<int:domain_id>/verify/",
        domain_verify,
        name="domain_verify",
    ),
    path(
        "orgs/<str:org>/domains/<int:domain_id>/delete/",
        domain_delete,
        name="domain_delete",
    ),
]
