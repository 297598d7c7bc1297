"""Invitations: the organization's list and bulk form, re-send, revoke, and the
public accept link."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from invitations.forms import InvitationAcceptForm, InviteForm
from invitations.models import Invitation
from invitations.services import (
    STATES,
    InvitationLinkError,
    invitation_accept_for_user,
    invitation_accept_with_password,
    invitation_from_token,
    invitation_resend,
    invitation_revoke,
    invitations_create,
    invitations_page,
    sso_coming_refusal,
    sso_is_live,
    sso_is_tested,
)
from organizations.access import (
    OrgContext,
    client_ip,
    org_view,
    page_number,
    wants_json,
)
from organizations.broker import publish_watch
from organizations.errors import ServiceError
from organizations.models import Organization
from organizations.permissions import ROLE_RANK
from rolemapping.models import Role

PAGE_SIZE = 50
PENDING_INVITATION_KEY = "pending_invitation_id"


def _role_choices(org: OrgContext) -> list[tuple[str, str]]:
    # Never the owner; never above the inviter's own role.
    mine = ROLE_RANK.get(org.role, 0)
    return [
        (slug, label)
        for slug, label in Role.Slug.choices
        if slug != Role.Slug.OWNER and ROLE_RANK[slug] <= mine
    ]


def _invitation_json(invitation: Invitation) -> dict:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role.slug,
        "state": invitation.state,
        "invited_by": invitation.invited_by.email if invitation.invited_by else None,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
        "send_count": invitation.send_count,
        "accepted_at": (
            invitation.accepted_at.isoformat() if invitation.accepted_at else None
        ),
    }


@require_http_methods(["GET", "POST"])
@org_view("console.view")
def invitation_list(request: HttpRequest, org: OrgContext) -> HttpResponse:
    """The invitations, newest first; POST ``emails`` and ``role`` invites."""
    state = request.GET.get("state", "")
    state = state if state in STATES else ""
    roles = _role_choices(org)
    form = InviteForm(roles=roles)
    report = None
    mail_notice = ""
    status = 200
    if request.method == "POST":
        if not org.can("invitations.manage"):
            raise PermissionDenied(_("Only owners and admins can invite people."))
        form = InviteForm(request.POST, roles=roles)
        if form.is_valid():
            try:
                with publish_watch() as queue:
                    report = invitations_create(
                        actor_membership=org.membership,
                        emails=form.cleaned_data["emails"],
                        role_slug=form.cleaned_data["role"],
                        ip=client_ip(request),
                    )
            except ServiceError as exc:
                form.add_error("emails", str(exc))
            else:
                if queue.failed:
                    mail_notice = _mail_waiting_sentence(
                        report.invited_count + report.resent_count
                    )
        if report is None:
            status = 400
        else:
            # Leave only the refused addresses in the box, to fix and resend.
            form = InviteForm(
                initial={
                    "emails": "\n".join(report.refused_entries),
                    "role": form.cleaned_data["role"],
                },
                roles=roles,
            )
    page = invitations_page(org.organization, page_number(request), PAGE_SIZE, state)
    if request.method == "GET" and wants_json(request):
        return JsonResponse([_invitation_json(i) for i in page], safe=False)
    return render(
        request,
        "invitations/invitations.html",
        {
            "form": form,
            "report": report,
            "mail_notice": mail_notice,
            "page": page,
            "state": state,
            "states": STATES,
            "can_manage": org.can("invitations.manage"),
            # Before the switch, say what it does to an invitee's password.
            "sso_live": sso_is_live(org.organization),
            "sso_coming": sso_is_tested(org.organization),
        },
        status=status,
    )


def _mail_waiting_sentence(count: int) -> str:
    """What a page says when the emails could not be handed to the task queue:
    they are in the outbox and go out when the queue is back."""
    return ngettext(
        "Invited %(count)d person; the email is queued and will be sent when the "
        "mail queue is back.",
        "Invited %(count)d people; the emails are queued and will be sent when "
        "the mail queue is back.",
        count,
    ) % {"count": count}


def _admin_action(request: HttpRequest, org: OrgContext, invitation_id: int, action):
    invitation = get_object_or_404(
        Invitation.objects.select_related("role"),
        pk=invitation_id,
        organization=org.organization,
    )
    try:
        with publish_watch() as queue:
            action(
                actor_membership=org.membership,
                invitation=invitation,
                ip=client_ip(request),
            )
    except ServiceError as exc:
        messages.error(request, str(exc))
        return None
    return invitation, bool(queue.failed)


@require_POST
@org_view("invitations.manage")
def invitation_resend_view(
    request: HttpRequest, org: OrgContext, invitation_id: int
) -> HttpResponse:
    done = _admin_action(request, org, invitation_id, invitation_resend)
    if done is not None:
        invitation, mail_waiting = done
        names = {"email": invitation.email}
        if mail_waiting:
            messages.warning(
                request,
                _(
                    "A new invitation link for %(email)s is queued and will be sent "
                    "when the mail queue is back; the previous one no longer works."
                )
                % names,
            )
        else:
            messages.success(
                request,
                _(
                    "A new invitation link was sent to %(email)s; the previous one "
                    "no longer works."
                )
                % names,
            )
    return redirect("invitation_list", org.organization.login_path)


@require_POST
@org_view("invitations.manage")
def invitation_revoke_view(
    request: HttpRequest, org: OrgContext, invitation_id: int
) -> HttpResponse:
    done = _admin_action(request, org, invitation_id, invitation_revoke)
    if done is not None:
        invitation, _mail_waiting = done
        messages.success(
            request,
            _("The invitation for %(email)s was revoked; its link no longer works.")
            % {"email": invitation.email},
        )
    return redirect("invitation_list", org.organization.login_path)


def _welcome(request: HttpRequest, organization: Organization) -> None:
    messages.success(
        request,
        _("Welcome to %(organization)s!") % {"organization": organization.name},
    )


def _sso_login_url(organization: Organization, email: str) -> str:
    try:
        url = reverse("sso_login", args=[organization.login_path])
    except NoReverseMatch:  # the SSO URLs are not installed: the contract's path
        url = f"/sso/login/{organization.login_path}/"
    return f"{url}?{urlencode({'login_hint': email})}"


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Open an invitation link.

    SSO live: start the organization's SSO with ``login_hint``; the SSO callback
    accepts the invitation whose id this puts in the session. Before that: join
    as the signed-in user (same email), or create a password account.

    Pages for a link that still works answer 200 even for form errors: Django
    logs the path of every 4xx, and this path holds a working token.
    """
    try:
        invitation = invitation_from_token(token)
    except InvitationLinkError as exc:
        return render(
            request,
            "invitations/invitations_invalid.html",
            {"message": str(exc)},
            status=exc.status,
        )
    organization = invitation.organization
    if sso_is_live(organization):
        request.session[PENDING_INVITATION_KEY] = invitation.pk
        return redirect(_sso_login_url(organization, invitation.email))

    sso_coming = sso_is_tested(organization)
    context: dict = {
        "invitation": invitation,
        "invited_org": organization,
        "sso_coming": sso_coming,
    }
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        if user.email.lower() != invitation.email:
            context["mismatch"] = True
            return render(request, "invitations/invitations_accept.html", context)
        if request.method == "POST":
            try:
                invitation_accept_for_user(
                    token=token, user=user, ip=client_ip(request)
                )
            except ServiceError as exc:
                context["error"] = str(exc)
            else:
                _welcome(request, organization)
                return redirect(organization.get_absolute_url())
        context["join"] = True
        return render(request, "invitations/invitations_accept.html", context)

    if User.objects.filter(email=invitation.email).exists():
        context["sign_in_url"] = (
            reverse("login") + "?" + urlencode({"next": request.path})
        )
        return render(request, "invitations/invitations_accept.html", context)

    if sso_coming:
        # No password account the switch would disable: the IdP, once live.
        context["wait_for_sso"] = sso_coming_refusal(organization)
        return render(request, "invitations/invitations_accept.html", context)
    form = InvitationAcceptForm(
        request.POST if request.method == "POST" else None, email=invitation.email
    )
    if request.method == "POST" and form.is_valid():
        try:
            new_user, _membership = invitation_accept_with_password(
                token=token,
                password=form.cleaned_data["password1"],
                name=form.cleaned_data["name"],
                ip=client_ip(request),
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            login(request, new_user, backend="accounts.backends.EmailPasswordBackend")
            _welcome(request, organization)
            return redirect(organization.get_absolute_url())
    context["form"] = form
    return render(request, "invitations/invitations_accept.html", context)


urlpatterns = [
    path("orgs/<str:org>/invitations/", invitation_list, name="invitation_list"),
    path(
        "orgs/<str:org>/invitations/<int:invitation_id>/resend/",
        invitation_resend_view,
        name="invitation_resend",
    ),
    path(
        "orgs/<str:org>/invitations/<int:invitation_id>/revoke/",
        invitation_revoke_view,
        name="invitation_revoke",
    ),
    path("invitations/<str:token>/", invitation_accept, name="invitation_accept"),
]
