"""Settings, all read from the environment through one django-environ object.

Embedded defaults are safe for a laptop (SQLite, in-process tasks); a production
secret has no default outside DEBUG, so bad configuration fails at start-up.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment (or .env), "
        "or set DEBUG=True for local development."
    )

SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
_site = urlsplit(SITE_URL)
if _site.scheme not in ("http", "https") or not _site.hostname:
    raise ImproperlyConfigured(f"SITE_URL must be an http(s) URL, not {SITE_URL!r}.")
SITE_IS_HTTPS = _site.scheme == "https"
ALLOWED_HOSTS = [_site.hostname, *env.list("ALLOWED_HOSTS", default=[])]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "mozilla_django_oidc",
    "axes",
    # Our apps, in dependency order: each imports only the ones above it.
    "organizations",
    "rolemapping",
    "domains",
    "accounts",
    "invitations",
    "directory",
    "connections",
    "setuplinks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "organizations.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "organizations.middleware.ActiveMembershipMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it answers a sign-in it held (accounts.lockout).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "organizations.context_processors.console",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///db.sqlite3")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _name = DATABASES["default"]["NAME"]
    if _name and not Path(_name).is_absolute() and _name != ":memory:":
        DATABASES["default"]["NAME"] = str(BASE_DIR / _name)
    # SQLite as a web app's database (Django 5.1+): a writer takes the lock
    # when its transaction begins and waits for it, up to the busy timeout,
    # instead of failing with "database is locked" when it first writes; WAL
    # lets readers run beside the writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    # Persistent connections (checked before reuse): opening a PostgreSQL
    # connection per request costs more than most of our requests' queries.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Sessions live in Redis when the cache is Redis (shared by every worker); with
# the per-process local-memory cache they must stay in the database.
_CACHE_IS_SHARED = "redis" in CACHES["default"]["BACKEND"].lower()
if _CACHE_IS_SHARED:
    # A Redis that is down or frozen answers within seconds, not never.
    CACHES["default"].setdefault("OPTIONS", {}).update(
        socket_connect_timeout=env.float("REDIS_CONNECT_TIMEOUT", default=2.0),
        socket_timeout=env.float("REDIS_TIMEOUT", default=2.0),
    )
SESSION_ENGINE = env.str(
    "SESSION_ENGINE",
    default="django.contrib.sessions.backends.cache"
    if _CACHE_IS_SHARED
    else "django.contrib.sessions.backends.db",
)

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, as axes asks: it refuses a held sign-in before any password check.
    # It only watches authenticate(); SSO calls its backend directly.
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.EmailPasswordBackend",
    "connections.backend.OrganizationOIDCBackend",
]
# Email-first: /login/ routes an address to its organization's SSO, or to
# the password form (accounts' "login") when it has none.
LOGIN_URL = "email_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "email_login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
PASSWORD_RESET_TIMEOUT = 60 * 60

LANGUAGE_CODE = "en-us"
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `collectstatic` writes here when STATIC_ROOT is set; otherwise WhiteNoise
# serves straight from the app's static folders.
STATIC_ROOT = env.str("STATIC_ROOT", default="") or None
WHITENOISE_USE_FINDERS = True

# Email: console in development, smtp:// in production.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# Who invitations, address proofs and alerts come from. Unset: an address at
# SITE_URL's host when that is a domain name (mail servers refuse @localhost
# and bare IP addresses), else at example.com; set it to a mailbox of yours.
_mail_host = _site.hostname or ""
if "." not in _mail_host or _mail_host.replace(".", "").isdigit() or ":" in _mail_host:
    _mail_host = "example.com"
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default=f"SSO console <sso-console@{_mail_host}>"
)

# Field encryption (Fernet). The first key encrypts; all keys decrypt (rotation).
_DEV_FERNET_KEY = "ZGV2LW9ubHktZmVybmV0LWtleS1kby1ub3QtdXNlLSE="
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=[_DEV_FERNET_KEY] if DEBUG else []
)
for _index, _key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key)
    except (ValueError, TypeError):
        # Caught here, at start-up, not by the first owner who saves a secret.
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS entry {_index} is not a Fernet key (32 "
            "url-safe base64-encoded bytes)."
        ) from None
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS is not set. Generate a key with: python -c "
        "'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'"
    )

# SSO and outbound fetches.
SSO_ALLOW_INSECURE_ISSUERS = env.bool("SSO_ALLOW_INSECURE_ISSUERS", default=False)
SSO_ALLOW_PRIVATE_NETWORKS = env.bool("SSO_ALLOW_PRIVATE_NETWORKS", default=False)
OUTBOUND_CONNECT_TIMEOUT = env.float("OUTBOUND_CONNECT_TIMEOUT", default=3.0)
OUTBOUND_READ_TIMEOUT = env.float("OUTBOUND_READ_TIMEOUT", default=5.0)
OUTBOUND_MAX_BYTES = env.int("OUTBOUND_MAX_BYTES", default=1_000_000)
# Per IdP (host:port) and process: calls in flight at once, how long one more
# waits for a slot, and the circuit breaker (connections/outbound_guard.py).
# Keep the limit below gunicorn's threads per worker (gunicorn.conf.py).
OUTBOUND_MAX_CONCURRENT_PER_HOST = env.int(
    "OUTBOUND_MAX_CONCURRENT_PER_HOST", default=4
)
OUTBOUND_CONCURRENCY_WAIT = env.float("OUTBOUND_CONCURRENCY_WAIT", default=0.5)
OUTBOUND_CIRCUIT_FAILURES = env.int("OUTBOUND_CIRCUIT_FAILURES", default=3)
OUTBOUND_CIRCUIT_WINDOW = env.float("OUTBOUND_CIRCUIT_WINDOW", default=60.0)
OUTBOUND_CIRCUIT_COOLDOWN = env.float("OUTBOUND_CIRCUIT_COOLDOWN", default=30.0)
SSO_STATE_TTL = 10 * 60
# mozilla-django-oidc's login state (connections/views/sso.py fixes the rest:
# a nonce and PKCE S256 always). 43 letters and digits carry 256 bits. A
# browser keeps at most OIDC_MAX_STATES sign-ins in flight, oldest dropped.
OIDC_STATE_SIZE = 43
OIDC_NONCE_SIZE = 43
OIDC_PKCE_CODE_VERIFIER_SIZE = 64
OIDC_MAX_STATES = 10
SSO_MAX_GROUPS = env.int("SSO_MAX_GROUPS", default=1000)
# Microsoft Graph, asked for an Entra ID group overage (tests point it at a
# local fake); a person's groups are read in at most this many pages.
GRAPH_BASE_URL = env.str("GRAPH_BASE_URL", default="https://graph.microsoft.com")
GRAPH_MAX_PAGES = env.int("GRAPH_MAX_PAGES", default=10)
DNS_NAMESERVERS = env.list("DNS_NAMESERVERS", default=[])
DNS_TIMEOUT = env.float("DNS_TIMEOUT", default=2.0)
# Directory sync (SCIM): requests a token may make per minute, and the
# largest request body accepted (a group PATCH of many members fits).
SCIM_RATE_LIMIT_PER_MINUTE = env.int("SCIM_RATE_LIMIT_PER_MINUTE", default=1200)
SCIM_MAX_BODY_BYTES = env.int("SCIM_MAX_BODY_BYTES", default=512 * 1024)

INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
# How long a setup link for a customer's IT admin works (setuplinks).
SETUP_LINK_TTL_DAYS = env.int("SETUP_LINK_TTL_DAYS", default=7)
# How long the link that confirms a new owner's address works, in seconds.
EMAIL_PROOF_MAX_AGE = env.int("EMAIL_PROOF_MAX_AGE", default=3 * 24 * 60 * 60)
LOGIN_THROTTLE_LIMIT = env.int("LOGIN_THROTTLE_LIMIT", default=5)
LOGIN_THROTTLE_WINDOW = env.int("LOGIN_THROTTLE_WINDOW", default=15 * 60)

# Failed password sign-ins (django-axes, glue in accounts.lockout): held per
# account *and* address, so nobody can lock an owner out from elsewhere; the
# hold lasts LOGIN_THROTTLE_WINDOW seconds after the last failure. Attempts
# live in the database, where support staff see and clear them (the admin,
# `manage.py axes_reset_username`).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = LOGIN_THROTTLE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_THROTTLE_WINDOW)
AXES_HANDLER = "accounts.lockout.SignInAttemptsHandler"
AXES_USERNAME_FORM_FIELD = "username"  # what the form passes to authenticate()
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_CLIENT_IP_CALLABLE = "organizations.access.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_DISABLE_ACCESS_LOG = True

# Celery: JSON only, time limits set; eager in-process when no broker is configured.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Every task is bounded (these defaults, or its own limits) and acknowledged
# when it ends (acks_late), so a task whose worker died is delivered again:
# Redis does so once it has been unacknowledged for visibility_timeout (below).
# A worker *process* killed mid-task (the hard limit, the OOM killer) has its
# task acknowledged, not run again; the rows say what became of it (a
# connection check is failed at its deadline, connections.services.checks).
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Every worker stamps the cache this often (organizations.workers); a stamp
# older than the max age means no worker. A page that waits on a job queued
# WORKER_WAIT_SECONDS ago with no worker says so in a banner.
WORKER_HEARTBEAT_INTERVAL = env.float("WORKER_HEARTBEAT_INTERVAL", default=5.0)
WORKER_HEARTBEAT_MAX_AGE = 3 * WORKER_HEARTBEAT_INTERVAL
WORKER_WAIT_SECONDS = env.float("WORKER_WAIT_SECONDS", default=5.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker that is down or frozen must not hold a request: connecting and
# publishing are bounded, and a publish is retried once at most. Whatever was
# not published is found again by the beat tasks (the rows say what is due).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("BROKER_CONNECT_TIMEOUT", default=2.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": env.float("BROKER_TIMEOUT", default=3.0),
    "retry_on_timeout": False,
    # Longer than any task can be held unacknowledged by a live worker: the
    # longest retry countdown (30 minutes, email) plus the longest hard time
    # limit. Shorter, Redis would hand a task still waiting or running to a
    # second worker (tests/test_worker_limits.py holds every task to it).
    "visibility_timeout": 60 * 60,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# After a refusal, publishing from this process pauses this many seconds
# (organizations.broker): an outage costs one timeout, not one per click.
BROKER_PUBLISH_PAUSE = env.float("BROKER_PUBLISH_PAUSE", default=10.0)
# The outbox (organizations.mail): tries per email before giving up, how long
# a sender holds one, and how many days finished rows are kept (no bodies).
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
OUTBOX_SEND_LEASE = 300
OUTBOX_KEEP_DAYS = env.int("OUTBOX_KEEP_DAYS", default=30)
CELERY_BEAT_SCHEDULE = {
    "outbox-flush": {
        "task": "organizations.tasks.outbox_flush",
        "schedule": 60,
    },
    "recheck-verified-domains": {
        "task": "domains.tasks.domains_recheck_all",
        "schedule": 24 * 60 * 60,
    },
    "health-check-live-connections": {
        "task": "connections.tasks.connections_health_check_all",
        "schedule": 60 * 60,
    },
    "fail-stuck-checks": {
        "task": "connections.tasks.checks_fail_stuck",
        "schedule": 60,
    },
    "expire-invitations": {
        "task": "invitations.tasks.invitations_expire",
        "schedule": 60 * 60,
    },
    "expire-pending-signups": {
        "task": "accounts.tasks.pending_signups_expire",
        "schedule": 60 * 60,
    },
    "remind-expiring-client-secrets": {
        "task": "connections.tasks.secret_expiry_remind",
        # Every few hours: each reminder is sent once, so a missed run (beat
        # down at the wrong hour) costs a few hours, not a reminder.
        "schedule": 6 * 60 * 60,
    },
}

# Security baseline.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_COOKIE_SECURE = SITE_IS_HTTPS
CSRF_COOKIE_SECURE = SITE_IS_HTTPS
CSRF_TRUSTED_ORIGINS = [SITE_URL]
# Not "no-referrer": with it, Chromium sends `Origin: null` on same-origin form
# POSTs (and no Referer over https), so Django's CSRF check refuses every form.
# "same-origin" gives other sites (the IdP included) no referrer at all.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# How many reverse proxies in front of the app append to X-Forwarded-For:
# organizations.access.client_ip takes the client's address from there. 0
# (no proxy) trusts only the address that connected.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        f"TRUSTED_PROXY_COUNT must be 0 or more, not {TRUSTED_PROXY_COUNT}."
    )
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("TRUST_X_FORWARDED_PROTO", default=False)
    else None
)
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SITE_IS_HTTPS)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self' https: http:; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # urllib3 logs whole request lines (query strings included) at DEBUG.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
