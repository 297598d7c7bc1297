"""Tenancy, domains, OIDC connections, checks, sign-in records and invitations.

Rows change only through `connections.services`; nothing here saves behind an
action's back.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from .crypto import decrypt_secret


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The email (stored lower-cased) is the login."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.lower()
        super().save(*args, **kwargs)


class Organization(models.Model):
    name = models.CharField(max_length=100)
    login_path = models.CharField(
        max_length=40,
        help_text="3 to 40 characters: a-z, 0-9 and '-'. Part of every SSO URL.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_orgs"
    )
    sso_enforced = models.BooleanField(default=False)
    sso_enforced_at = models.DateTimeField(null=True, blank=True)
    # Role-mapping settings (rolemapping owns the logic; the row lives here).
    default_role = models.ForeignKey(
        "rolemapping.Role",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    only_mapped_groups = models.BooleanField(default=False)
    invitation_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("login_path"), name="org_login_path_ci"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # The switch to SSO is irreversible: refuse to write it back to False,
        # whoever asks (service, admin, shell).
        if self.pk and not self.sso_enforced:
            was_enforced = (
                type(self).objects.filter(pk=self.pk, sso_enforced=True).exists()
            )
            if was_enforced:
                raise ValidationError(
                    "SSO enforcement cannot be turned off once it is on."
                )
        self.login_path = self.login_path.lower()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("org_overview", args=[self.login_path])


class Domain(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        VERIFIED = "verified"
        FAILED = "failed"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="domains"
    )
    name = models.CharField(max_length=253)
    token = models.CharField(max_length=64)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    detail = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Consecutive periodic checks that found the record gone.
    missing_checks = models.PositiveSmallIntegerField(default=0)
    # When someone last asked for a check; a check is running while this is
    # newer than last_checked_at (the page polls until it is not).
    check_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="domain_unique_per_org"
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(status="verified"),
                name="domain_verified_by_one_org",
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConnectionConfig(models.Model):
    """One immutable configuration of a connection.

    Editing a connection writes a new row and points the draft at it; publishing
    points the live configuration at the draft's row. A check records the row it
    tested, so "tested exactly this configuration" is a comparison of ids and
    fingerprints, not of field values that may have moved.
    """

    connection = models.ForeignKey(
        "Connection", on_delete=models.CASCADE, related_name="configs"
    )
    issuer_url = models.URLField(max_length=500)
    client_id = models.CharField(max_length=255)
    client_secret_encrypted = models.TextField()
    scopes = models.CharField(max_length=500, default="openid email profile groups")
    groups_claim = models.CharField(max_length=100, default="groups")
    email_claim = models.CharField(max_length=100, default="email")
    leeway_seconds = models.PositiveSmallIntegerField(default=60)
    idp_logout = models.BooleanField(default=False)
    fingerprint = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.issuer_url} ({self.client_id})"

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            raise ValidationError("A connection configuration is immutable.")
        self.fingerprint = self.compute_fingerprint()
        super().save(*args, **kwargs)

    @property
    def client_secret(self) -> str:
        return decrypt_secret(self.client_secret_encrypted)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def compute_fingerprint(self) -> str:
        """A digest of every field sign-in depends on, the secret's plaintext too."""
        secret_digest = hashlib.sha256(self.client_secret.encode()).hexdigest()
        material = {
            "issuer_url": self.issuer_url,
            "client_id": self.client_id,
            "client_secret": secret_digest,
            "scopes": " ".join(sorted(set(self.scope_list))),
            "groups_claim": self.groups_claim,
            "email_claim": self.email_claim,
            "leeway_seconds": self.leeway_seconds,
            "idp_logout": self.idp_logout,
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class Connection(models.Model):
    class Provider(models.TextChoices):
        OKTA = "okta", "Okta"
        OIDC = "oidc", "Generic OpenID Connect"

    class Health(models.TextChoices):
        UNKNOWN = "unknown"
        PASSING = "passing"
        FAILING = "failing"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="connections"
    )
    name = models.CharField(max_length=100)
    provider = models.CharField(
        max_length=10, choices=Provider.choices, default=Provider.OKTA
    )
    draft = models.ForeignKey(
        ConnectionConfig, on_delete=models.PROTECT, related_name="+", null=True
    )
    live = models.ForeignKey(
        ConnectionConfig,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    published_at = models.DateTimeField(null=True, blank=True)
    health = models.CharField(
        max_length=10, choices=Health.choices, default=Health.UNKNOWN
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(
            "connection_detail", args=[self.organization.login_path, self.pk]
        )

    @property
    def status(self) -> str:
        return "live" if self.live_id else "draft"


class ConnectionCheck(models.Model):
    class Kind(models.TextChoices):
        CHECK = "check"
        PERIODIC = "periodic"
        TEST_SIGNIN = "test_signin"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="checks"
    )
    config = models.ForeignKey(
        ConnectionConfig, on_delete=models.CASCADE, related_name="checks"
    )
    fingerprint = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.CHECK)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    # [{"name", "status": passed|failed|warning|skipped, "detail", "fix"}]
    steps = models.JSONField(default=list, blank=True)
    # Test sign-in: the verified claims summary, groups and would-be role.
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.status}"

    def get_absolute_url(self) -> str:
        return reverse(
            "check_detail",
            args=[
                self.connection.organization.login_path,
                self.connection_id,
                self.pk,
            ],
        )


class SsoIdentity(models.Model):
    """Who a (connection, issuer, sub) is. Never keyed by email."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities"
    )
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="identities"
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    # When it was linked. Each sign-in through it is a SignInEvent (subject and
    # connection), which is where its last use is read.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "issuer", "subject"], name="identity_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


class SignInEvent(models.Model):
    class Outcome(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="signin_events"
    )
    connection = models.ForeignKey(
        Connection,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="signin_events",
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    step = models.CharField(max_length=40, blank=True)
    detail = models.TextField(blank=True)
    subject = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=254, blank=True)
    reference = models.CharField(max_length=16, db_index=True)
    is_test = models.BooleanField(default=False)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.outcome} {self.step} {self.reference}"


class Invitation(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.ForeignKey(
        "rolemapping.Role", on_delete=models.PROTECT, related_name="invitations"
    )
    # Only a SHA-256 of the token is stored; re-sending replaces it.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_sent_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    expired_marked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_email",
            )
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class AuditEvent(models.Model):
    """One row per state change, written in the same transaction as the change."""

    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="audit_events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(max_length=60)
    target = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"
