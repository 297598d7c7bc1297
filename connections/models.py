"""OIDC connections: immutable configurations, checks, identities and sign-ins.

Rows change only through `connections.services`; nothing here saves behind an
action's back.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from organizations.crypto import decrypt_secret


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
    # Empty for private_key_jwt: the console signs with its own key instead.
    client_secret_encrypted = models.TextField(blank=True)
    # Empty: the method the IdP's discovery document prefers, among the client
    # secret methods (what every configuration before this field did).
    token_auth_method = models.CharField(max_length=30, blank=True, default="")
    # When the IdP says the client secret stops working (the owner types it).
    client_secret_expires_on = models.DateField(null=True, blank=True)
    scopes = models.CharField(max_length=500, default="openid email profile groups")
    groups_claim = models.CharField(max_length=100, default="groups")
    email_claim = models.CharField(max_length=100, default="email")
    leeway_seconds = models.PositiveSmallIntegerField(default=60)
    idp_logout = models.BooleanField(default=False)
    # Entra ID: resolve a group overage through Microsoft Graph with the
    # sign-in's access token (needs the GroupMember.Read.All permission).
    groups_from_graph = models.BooleanField(default=False)
    # The provider whose rules this configuration was saved (and is checked
    # and signed in) with, so changing the provider changes the live sign-in
    # only when the new draft is published. Empty for configurations written
    # before providers: the connection's provider applies.
    provider = models.CharField(max_length=10, blank=True, default="")
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
        if not self.client_secret_encrypted:
            return ""
        return decrypt_secret(self.client_secret_encrypted)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def rules_provider(self) -> str:
        """The provider whose trust rules apply to sign-ins through this
        configuration (``connection`` is read only for older rows)."""
        return self.provider or self.connection.provider

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
        # Only when set, so configurations written before it keep their digest.
        if self.groups_from_graph:
            material["groups_from_graph"] = True
        if self.provider:
            material["provider"] = self.provider
        # Only when set, so configurations written before the field keep their
        # fingerprints (and the checks that passed for them).
        if self.token_auth_method:
            material["token_auth_method"] = self.token_auth_method
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class Connection(models.Model):
    class Provider(models.TextChoices):
        OKTA = "okta", "Okta"
        ENTRA = "entra", "Microsoft Entra ID"
        GOOGLE = "google", "Google Workspace"
        OIDC = "oidc", "Generic OpenID Connect"

    class Health(models.TextChoices):
        UNKNOWN = "unknown"
        PASSING = "passing"
        FAILING = "failing"

    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="connections",
    )
    name = models.CharField(max_length=100)
    provider = models.CharField(
        max_length=10, choices=Provider.choices, default=Provider.OIDC
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


class SigningKey(models.Model):
    """A key pair the console signs client assertions with (private_key_jwt).

    Its public part is published in the organization's JWKS while it is
    ``published`` or ``active``; the one ``active`` key of a connection signs. A
    retired key is no longer published and its private part is erased.
    """

    class State(models.TextChoices):
        PUBLISHED = "published"
        ACTIVE = "active"
        RETIRED = "retired"

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="signing_keys"
    )
    kid = models.CharField(max_length=64, unique=True)
    alg = models.CharField(max_length=10)
    # The public members only (connections.oidc.client_keys.public_only).
    public_jwk = models.JSONField()
    # PKCS#8 PEM, Fernet-encrypted like the client secrets; empty once retired.
    private_key_encrypted = models.TextField(blank=True)
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PUBLISHED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection"],
                condition=models.Q(state="active"),
                name="one_active_signing_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.alg}, {self.state})"


class SecretExpiryReminder(models.Model):
    """One reminder email sent for one configuration's secret: never twice."""

    config = models.ForeignKey(
        ConnectionConfig, on_delete=models.CASCADE, related_name="expiry_reminders"
    )
    days_before = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["config", "days_before"], name="expiry_reminder_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.config_id} -{self.days_before}d"


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
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="signin_events",
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
    # False for a sign-in refused before the browser was sent to the IdP (a bad
    # link, no live connection): anyone can cause those, so they are counted
    # apart from the attempts owners investigate, and rate-limited.
    reached_idp = models.BooleanField(default=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.outcome} {self.step} {self.reference}"
