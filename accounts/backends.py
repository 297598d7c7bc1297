from django.contrib.auth.backends import ModelBackend

from accounts.models import canonical_email


class EmailPasswordBackend(ModelBackend):
    """Password sign-in by email, in its canonical spelling (case, spaces and a
    trailing dot of the domain do not matter).

    SSO enforcement is decided by the login form, which knows which
    organization the person is after and can say what to do instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        return super().authenticate(
            request, username=canonical_email(username), password=password, **kwargs
        )
