from django.contrib.auth.backends import ModelBackend


class EmailPasswordBackend(ModelBackend):
    """Password sign-in by email, case-insensitively.

    SSO enforcement is decided by the login form, which knows which
    organization the person is after and can say what to do instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        return super().authenticate(
            request, username=username.strip().lower(), password=password, **kwargs
        )
