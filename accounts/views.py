"""Native accounts: owner sign-up, password sign-in and out, /accounts/me/,
health and readiness."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.forms import LoginForm, SignupForm
from accounts.lockout import LOCKOUT_STATUS
from accounts.selectors import sso_required_orgs
from accounts.services import owner_signup, user_email_prove
from organizations.access import active_memberships, client_ip, local_next
from organizations.errors import ServiceError


def safe_next(request: HttpRequest, default: str) -> str:
    return local_next(request.POST.get("next") or request.GET.get("next")) or default


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user, org = owner_signup(
                email=data["email"],
                password=data["password1"],
                org_name=data["org_name"],
                login_path=data["login_path"],
                ip=client_ip(request),
            )
        except ServiceError as exc:
            field = "login_path" if "login path" in str(exc) else None
            field = field or ("email" if "account" in str(exc) else "org_name")
            form.add_error(field, str(exc))
        else:
            login(request, user, backend="accounts.backends.EmailPasswordBackend")
            messages.success(
                request, f"Welcome! {org.name} is ready. Start with the checklist."
            )
            return redirect(org.get_absolute_url())
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


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
            form.add_error(
                None,
                f"{sso_orgs[0].name} requires single sign-on: password sign-in is "
                "off for its members. Use the SSO button below.",
            )
        else:
            login(request, user, backend="accounts.backends.EmailPasswordBackend")
            return redirect(safe_next(request, reverse("home")))
    sso_links = []
    for org in sso_orgs:
        try:
            url = reverse("sso_login", args=[org.login_path])
        except NoReverseMatch:
            url = ""
        sso_links.append({"org": org, "url": url})
    status = 400 if request.method == "POST" else 200
    if form.has_error(NON_FIELD_ERRORS, "throttled"):
        status = LOCKOUT_STATUS  # axes' middleware keeps this page (lockout.py)
    return render(
        request,
        "accounts/login.html",
        {"form": form, "sso_links": sso_links, "next": safe_next(request, "")},
        status=status,
    )


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
    messages.info(request, "You are signed out.")
    return redirect("login")


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
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
        return JsonResponse({"error": "Sign in first."}, status=401)
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


password_reset_views = [
    path(
        "accounts/password-reset/",
        auth_views.PasswordResetView.as_view(
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
    path("accounts/login/", password_login, name="login"),
    path("accounts/logout/", logout_view, name="logout"),
    path("accounts/me/", me, name="me"),
    *password_reset_views,
]
