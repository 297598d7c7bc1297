"""Native accounts: owner sign-up, password sign-in and out, /accounts/me/,
health and readiness."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
)

from accounts.forms import (
    LoginForm,
    PasswordResetForm,
    SignupConfirmForm,
    SignupForm,
)
from accounts.lockout import LOCKOUT_STATUS
from accounts.selectors import sso_required_orgs
from accounts.services import (
    AddressBelongsToOrganization,
    EmailProofLinkError,
    SignupRefused,
    email_proof_user,
    owner_signup,
    owner_signup_confirm,
    signup_login_path_refusal,
    signup_pending,
    user_email_proof_resend,
    user_email_prove,
    user_email_prove_by_link,
)
from accounts.sessions import member_sign_out_everywhere, sessions_count
from organizations.access import (
    OrgContext,
    active_memberships,
    client_ip,
    local_next,
    org_view,
    wants_json,
)
from organizations.broker import publish_watch
from organizations.errors import PermissionDenied, ServiceError
from organizations.models import Organization
from rolemapping.models import Membership

PASSWORD_BACKEND = "accounts.backends.EmailPasswordBackend"
SIGNUP_SENT_SESSION_KEY = "signup_sent_to"


def safe_next(request: HttpRequest, default: str) -> str:
    return local_next(request.POST.get("next") or request.GET.get("next")) or default


def _sso_login_url(organization: Organization, email: str) -> str:
    try:
        url = reverse("sso_login", args=[organization.login_path])
    except NoReverseMatch:  # the SSO URLs are not installed: the contract's path
        url = f"/sso/login/{organization.login_path}/"
    return f"{url}?{urlencode({'login_hint': email})}"


def _sso_refusal(organization: Organization) -> ValidationError:
    return ValidationError(
        _(
            "%(organization)s requires single sign-on: password sign-in is off for "
            "its members. Use the SSO button below."
        )
        % {"organization": organization.name},
        code="sso_required",
    )


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Ask for the owner and the organization; the emailed link makes them, in
    one step (signup_confirm). Signs nobody in.

    The answer is the same whether or not the address has an account (the
    service emails its owner instead): a redirect to the "check your inbox"
    page. An address in a domain an organization verified goes to that
    organization's single sign-on, or is told to ask for an invitation.
    """
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = owner_signup(
                email=data["email"],
                password=data["password1"],
                org_name=data["org_name"],
                login_path=data["login_path"],
                ip=client_ip(request),
            )
        except AddressBelongsToOrganization as exc:
            if exc.sso_live:
                return redirect(_sso_login_url(exc.organization, data["email"]))
            form.add_error(exc.field, ValidationError(str(exc), code=exc.code))
        except SignupRefused as exc:
            form.add_error(exc.field, ValidationError(str(exc), code=exc.code))
        else:
            request.session[SIGNUP_SENT_SESSION_KEY] = result.email
            return redirect("signup_sent")
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Open a sign-up's emailed link: with the password chosen at sign-up it
    creates the owner and the organization, and signs them in. When the login
    path asked for was taken meanwhile, the page asks for another.

    Pages of a link that works answer 200, even for a wrong password: Django
    logs the path of every 4xx, and this path holds a working token.
    """
    try:
        pending = signup_pending(token)
    except EmailProofLinkError as exc:
        return _link_refused(request, str(exc), exc.code, exc.status)
    path_refusal = signup_login_path_refusal(pending)
    ask_login_path = bool(path_refusal) or "login_path" in request.POST
    form = SignupConfirmForm(
        request.POST if request.method == "POST" else None,
        ask_login_path=ask_login_path,
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = owner_signup_confirm(
                token=token,
                password=form.cleaned_data["password"],
                login_path=form.cleaned_data.get("login_path"),
                ip=client_ip(request),
            )
        except EmailProofLinkError as exc:
            return _link_refused(request, str(exc), exc.code, exc.status)
        except AddressBelongsToOrganization as exc:
            return _link_refused(request, str(exc), exc.code, 409)
        except SignupRefused as exc:
            if exc.field in form.fields:
                form.add_error(exc.field, ValidationError(str(exc), code=exc.code))
            else:  # the login path was taken just now: ask for another
                path_refusal = str(exc)
                form = SignupConfirmForm(ask_login_path=True)
        else:
            login(request, user, backend=PASSWORD_BACKEND)
            _confirmed(request, user.email)
            return redirect("home")
    return render(
        request,
        "accounts/signup_confirm.html",
        {
            "pending_email": pending.email,
            "org_name": pending.org_name,
            "path_refusal": path_refusal,
            "ask_login_path": "login_path" in form.fields,
            "form": form,
        },
    )


def _link_refused(
    request: HttpRequest, message: str, code: str, status: int
) -> HttpResponse:
    return render(
        request,
        "accounts/email_proof_invalid.html",
        {"message": message, "code": code},
        status=status,
    )


@never_cache
@require_GET
def signup_sent(request: HttpRequest) -> HttpResponse:
    """The "check your inbox" page: the same whether or not the account is new."""
    email = request.session.get(SIGNUP_SENT_SESSION_KEY, "")
    return render(
        request,
        "accounts/signup_sent.html",
        {"sent_to": email if isinstance(email, str) else ""},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def password_login(request: HttpRequest) -> HttpResponse:
    # Email-first sign-in sends people here with ?email= when their domain has
    # no SSO; keep what they typed.
    initial = {"username": request.GET.get("email", "")[:254]}
    form = LoginForm(
        request, request.POST if request.method == "POST" else None, initial=initial
    )
    sso_orgs = []
    if request.method == "POST" and form.is_valid():
        user = form.user
        sso_orgs = sso_required_orgs(user)
        if sso_orgs:
            form.add_error(None, _sso_refusal(sso_orgs[0]))
        else:
            login(request, user, backend=PASSWORD_BACKEND)
            return redirect(safe_next(request, reverse("home")))
    status = 400 if request.method == "POST" else 200
    if form.has_error(NON_FIELD_ERRORS, "throttled"):
        status = LOCKOUT_STATUS  # axes' middleware keeps this page (lockout.py)
    return render(
        request,
        "accounts/login.html",
        {
            "form": form,
            "sso_links": _sso_links(sso_orgs),
            "next": safe_next(request, ""),
        },
        status=status,
    )


def _sso_links(organizations: list[Organization]) -> list[dict]:
    links = []
    for org in organizations:
        try:
            url = reverse("sso_login", args=[org.login_path])
        except NoReverseMatch:
            url = ""
        links.append({"org": org, "url": url})
    return links


@never_cache
@require_http_methods(["GET", "POST"])
def email_proof_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Open a confirmation link the banner sent, to an account that sign-up
    made before it waited for its link: it proves the address only for
    whoever also holds the account, signed in or typing its password here.

    Pages of a link that works answer 200, even for a wrong password: Django
    logs the path of every 4xx, and this path holds a working token.
    """
    try:
        account = email_proof_user(token)
    except EmailProofLinkError as exc:
        return _link_refused(request, str(exc), exc.code, exc.status)
    context: dict = {"account_email": account.email}
    if account.email_proven:
        context["already"] = True
        return render(request, "accounts/email_proof_confirm.html", context)
    user = request.user if request.user.is_authenticated else None
    if user is not None and user.pk != account.pk:
        context["mismatch"] = True
        return render(request, "accounts/email_proof_confirm.html", context)
    if user is not None:
        if request.method == "POST":
            user_email_prove_by_link(token=token, user=user, ip=client_ip(request))
            _confirmed(request, user.email)
            return redirect("home")
        context["confirm"] = True
        return render(request, "accounts/email_proof_confirm.html", context)

    form = LoginForm(
        request,
        {"username": account.email, "password": request.POST.get("password", "")}
        if request.method == "POST"
        else None,
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        user_email_prove_by_link(token=token, user=form.user, ip=client_ip(request))
        sso_orgs = sso_required_orgs(form.user)
        if sso_orgs:
            # Proven, but a password does not sign this member in.
            context.update(already=True, sso_links=_sso_links(sso_orgs))
            return render(request, "accounts/email_proof_confirm.html", context)
        login(request, form.user, backend=PASSWORD_BACKEND)
        _confirmed(request, account.email)
        return redirect("home")
    if form.has_error(NON_FIELD_ERRORS, "throttled"):
        status = LOCKOUT_STATUS
    context["form"] = form
    return render(request, "accounts/email_proof_confirm.html", context, status=status)


def _confirmed(request: HttpRequest, email: str) -> None:
    messages.success(
        request, _("Thank you: %(email)s is confirmed.") % {"email": email}
    )


@require_POST
def email_proof_resend(request: HttpRequest) -> HttpResponse:
    """Email the signed-in account a new confirmation link."""
    if not request.user.is_authenticated:
        return redirect("login")
    try:
        with publish_watch() as queue:
            user_email_proof_resend(user=request.user, ip=client_ip(request))
    except ServiceError as exc:
        messages.info(request, str(exc))
    else:
        if queue.failed:
            messages.warning(
                request,
                _(
                    "A new link to %(email)s is queued and will be sent when the "
                    "mail queue is back. Open it to confirm the address."
                )
                % {"email": request.user.email},
            )
        else:
            messages.success(
                request,
                _(
                    "A new link is on its way to %(email)s. Open it to confirm the "
                    "address."
                )
                % {"email": request.user.email},
            )
    return redirect(safe_next(request, reverse("home")))


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's, and a new password chosen from the emailed link proves the
    address: whoever holds the account now also holds the mailbox. The old
    password and every session of the account stop working (Django's session
    hash)."""

    template_name = "accounts/password_reset_confirm.html"

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            user_email_prove(
                user=form.user, via="password_reset", ip=client_ip(self.request)
            )
        return response


@require_http_methods(["POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You are signed out."))
    return redirect(settings.LOGOUT_REDIRECT_URL)


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    chosen = request.GET.get("org", "")
    if chosen.startswith("/orgs/") and local_next(chosen):
        return redirect(chosen)
    first = min(
        active_memberships(request),
        key=lambda m: (m.created_at, m.pk),  # the oldest membership
        default=None,
    )
    if first:
        return redirect(first.organization.get_absolute_url())
    return render(request, "organizations/no_org.html")


@never_cache
@require_GET
def me(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return JsonResponse(
            {"error": _("Sign in first."), "code": "not_signed_in"}, status=401
        )
    data = {
        "email": request.user.email,
        "email_verified": request.user.email_proven,
        "memberships": [
            {
                "org": m.organization.login_path,
                "role": m.role.slug,
                "source": m.source,
            }
            for m in active_memberships(request)
        ],
    }
    return JsonResponse(data)


@never_cache
@require_http_methods(["GET", "POST"])
@org_view("members.manage")
def member_sign_out(
    request: HttpRequest, org: OrgContext, member_id: int
) -> HttpResponse:
    """``/orgs/<org>/members/<id>/sign-out/``: GET asks for confirmation, POST
    ends every session of that member that reaches this organization."""
    membership = get_object_or_404(
        Membership.objects.select_related("user", "role", "organization"),
        pk=member_id,
        organization=org.organization,
    )
    if request.method == "GET":
        count = sessions_count(
            organization_id=org.organization.pk, user_id=membership.user_id
        )
        return render(
            request,
            "accounts/member_sign_out.html",
            {"member": membership, "session_count": count},
        )
    try:
        ended = member_sign_out_everywhere(
            actor_membership=org.membership,
            membership=membership,
            ip=client_ip(request),
        )
    except ServiceError as exc:
        status = 403 if isinstance(exc, PermissionDenied) else 400
        if wants_json(request):
            return JsonResponse({"error": str(exc), "code": exc.code}, status=status)
        messages.error(request, str(exc))
        return redirect("member_list", org.organization.login_path)
    if wants_json(request):
        return JsonResponse({"sessions_ended": ended})
    messages.success(
        request,
        ngettext(
            "%(email)s was signed out of %(count)d session.",
            "%(email)s was signed out of %(count)d sessions.",
            ended,
        )
        % {"email": membership.user.email, "count": ended},
    )
    return redirect("member_list", org.organization.login_path)


password_reset_views = [
    path(
        "accounts/password-reset/",
        auth_views.PasswordResetView.as_view(
            form_class=PasswordResetForm,
            template_name="accounts/password_reset_form.html",
            email_template_name="accounts/password_reset_email.html",
            html_email_template_name="accounts/email/password_reset.html",
        ),
        name="password_reset",
    ),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="accounts/password_reset_done.html"
        ),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]

urlpatterns = [
    path("", home, name="home"),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/signup/sent/", signup_sent, name="signup_sent"),
    path("accounts/signup/confirm/<str:token>/", signup_confirm, name="signup_confirm"),
    path("accounts/email/resend/", email_proof_resend, name="email_proof_resend"),
    path(
        "accounts/email/confirm/<str:token>/",
        email_proof_confirm,
        name="email_proof_confirm",
    ),
    path("accounts/login/", password_login, name="login"),
    path("accounts/logout/", logout_view, name="logout"),
    path("accounts/me/", me, name="me"),
    path(
        "orgs/<str:org>/members/<int:member_id>/sign-out/",
        member_sign_out,
        name="member_sign_out",
    ),
    *password_reset_views,
]
