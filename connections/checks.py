"""System checks: configuration mistakes show up at start-up, not at sign-in."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def sso_settings_check(app_configs, **kwargs):
    # Malformed FIELD_ENCRYPTION_KEYS are refused by config/settings.py itself,
    # before any check could run.
    problems = []
    if not settings.DEBUG:
        for name in ("SSO_ALLOW_INSECURE_ISSUERS", "SSO_ALLOW_PRIVATE_NETWORKS"):
            if getattr(settings, name):
                problems.append(
                    Warning(
                        f"{name} is on outside DEBUG.",
                        hint="Use it only for local identity providers in tests.",
                        id="connections.W001",
                    )
                )
        backend = settings.CACHES["default"]["BACKEND"]
        if backend.endswith(("locmem.LocMemCache", "dummy.DummyCache")):
            problems.append(
                Warning(
                    "The cache is local to each process (CACHE_URL is not set).",
                    hint="Set CACHE_URL=redis://…: sign-in state, single-use "
                    "markers, key-set reloads and discovery are cached, and with "
                    "several processes or machines each would keep its own.",
                    id="connections.W003",
                )
            )
        if not settings.SITE_IS_HTTPS:
            problems.append(
                Warning(
                    "SITE_URL is not https: IdPs will refuse the redirect URIs "
                    "and cookies are not Secure.",
                    id="connections.W002",
                )
            )
    return problems


# mozilla-django-oidc's login state: the least each setting may be.
_LIBRARY_STATE_BOUNDS = {
    # 43 letters and digits: 256 bits.
    "OIDC_STATE_SIZE": (43, 128),
    "OIDC_NONCE_SIZE": (43, 128),
    # RFC 7636 4.1.
    "OIDC_PKCE_CODE_VERIFIER_SIZE": (43, 128),
    # Sign-ins in flight per browser: at least one, and a bounded session.
    "OIDC_MAX_STATES": (1, 50),
}


@register()
def sso_login_state_check(app_configs, **kwargs):
    problems = []
    for name, (low, high) in _LIBRARY_STATE_BOUNDS.items():
        value = getattr(settings, name, None)
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not whole or not low <= value <= high:
            problems.append(
                Error(
                    f"{name} is {value!r}; it must be a whole number from {low} "
                    f"to {high}.",
                    hint="It sizes mozilla-django-oidc's login state; see "
                    "config/settings.py.",
                    id="connections.E001",
                )
            )
    return problems
