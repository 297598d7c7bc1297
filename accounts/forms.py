from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import PasswordResetForm as DjangoPasswordResetForm
from django.template import loader
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.lockout import is_locked_out, lockout_message, password_sign_in_succeeded
from accounts.models import User, canonical_email
from accounts.services import password_reset_email_queue


class CanonicalEmailField(forms.EmailField):
    """An address in the spelling accounts are stored by (canonical_email),
    plain ASCII only: lower-casing folds some other letters onto ASCII ones,
    so only ASCII addresses are matched to accounts (docs/ARCHITECTURE.md)."""

    def to_python(self, value):
        return canonical_email(super().to_python(value))

    def validate(self, value):
        super().validate(value)
        if value and not value.isascii():
            raise forms.ValidationError(
                _(
                    "Enter the address in plain ASCII letters; write an "
                    "international domain name in its xn-- form."
                ),
                code="not_ascii",
            )


class NewPasswordForm(forms.Form):
    """Two password fields, checked against each other and the validators."""

    password1 = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=gettext_lazy("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def password_owner_email(self) -> str:
        """The address the password must not resemble."""
        return ""

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error(
                "password2",
                forms.ValidationError(
                    _("The two passwords differ; type them again."),
                    code="password_mismatch",
                ),
            )
        elif p1:
            try:
                password_validation.validate_password(
                    p1, User(email=self.password_owner_email())
                )
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class SignupForm(NewPasswordForm):
    email = CanonicalEmailField(label=gettext_lazy("Work email"), max_length=254)
    org_name = forms.CharField(label=gettext_lazy("Organization name"), max_length=100)
    login_path = forms.CharField(
        label=gettext_lazy("Login path"),
        max_length=100,  # the service says what the limit is, in a sentence
        help_text=gettext_lazy(
            "3 to 40 of a-z, 0-9 and '-'. Your team's SSO URL ends with it."
        ),
    )
    field_order = ["email", "password1", "password2", "org_name", "login_path"]

    def password_owner_email(self) -> str:
        return self.cleaned_data.get("email", "")


class SignupConfirmForm(forms.Form):
    """The page of a sign-up's emailed link: the password chosen at sign-up,
    and a new login path when the one asked for was taken meanwhile."""

    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    login_path = forms.CharField(
        label=gettext_lazy("Login path"),
        max_length=100,  # the service says what the limit is, in a sentence
        help_text=gettext_lazy(
            "3 to 40 of a-z, 0-9 and '-'. Your team's SSO URL ends with it."
        ),
    )

    def __init__(self, *args, ask_login_path: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not ask_login_path:
            del self.fields["login_path"]


class LoginForm(forms.Form):
    """Native sign-in; django-axes holds an account after repeated failures
    from one address (accounts.lockout)."""

    username = forms.CharField(label=gettext_lazy("Email"), max_length=254)
    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self.user = None
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        email, password = data.get("username"), data.get("password")
        if not email or not password:
            return data
        # Axes' backend comes first: it refuses a held combination before any
        # password is checked, and counts each failure.
        user = authenticate(self.request, username=email, password=password)
        if is_locked_out(self.request):
            raise forms.ValidationError(lockout_message(), code="throttled")
        if user is None:
            raise forms.ValidationError(
                _(
                    "That email and password do not match an account. Check both "
                    "and try again."
                ),
                code="invalid_login",
            )
        password_sign_in_succeeded(self.request, email)
        self.user = user
        return data


class PasswordResetForm(DjangoPasswordResetForm):
    """Django's, with its email written to the outbox (organizations.mail)
    instead of sent in the request: a mail server or broker that is down
    neither fails the page nor loses the email. ``send_mail`` is the form's
    documented hook; the rendering is Django's."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        subject = loader.render_to_string(subject_template_name, context)
        body = loader.render_to_string(email_template_name, context)
        html = (
            loader.render_to_string(html_email_template_name, context)
            if html_email_template_name
            else None
        )
        password_reset_email_queue(to=to_email, subject=subject, text=body, html=html)
