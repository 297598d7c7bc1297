"""Settings for the test suite: the real settings with test-only defaults.

DATABASE_URL, CACHE_URL and CELERY_BROKER_URL still come from the environment, so
.ci/run can point the same suite at PostgreSQL, Redis and a Celery worker.
"""

import os

os.environ.setdefault("DEBUG", "False")
os.environ.setdefault(
    "SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef"
)
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS", "dGVzdC1rZXktb25lLWZvci10aGUtc3VpdGUtMDAwMDA="
)
os.environ.setdefault("SSO_ALLOW_INSECURE_ISSUERS", "True")
os.environ.setdefault("SSO_ALLOW_PRIVATE_NETWORKS", "True")
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from config.settings import *  # noqa: E402, F403

# Tests that need the real path through the broker opt in with the worker
# fixture; everything else runs tasks in-process.
CELERY_TASK_ALWAYS_EAGER = True
# With a broker, results travel back through Redis too, so a worker test can
# prove which process ran its task. Set from the start: Celery keeps the first
# result backend it builds.
CELERY_RESULT_BACKEND = os.environ.get("CELERY_BROKER_URL") or None
CELERY_TASK_EAGER_PROPAGATES = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SECURE_SSL_REDIRECT = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
