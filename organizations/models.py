"""Organizations and their audit log.

Rows change only through `organizations.services` and the services of the apps
above; nothing here saves behind an action's back.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


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
    # Provisioning settings. rolemapping owns their meaning; they live on the
    # row every sign-in reads anyway. The default role is a role slug ("" for
    # none), not a foreign key, so organizations never depends on rolemapping.
    default_role = models.CharField(max_length=20, blank=True)
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


class OutboundEmail(models.Model):
    """One email the product sends, written in the transaction that decided to
    send it (the outbox). ``organizations.mail`` writes, sends and retries it.

    The body may hold a working link (an invitation, a password reset), so it
    is kept encrypted (``organizations.crypto``) and emptied once the email is
    sent or given up; the rest is metadata for support staff.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=40)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=255)
    # Fernet token of {"text": ..., "html": ...}; "" once sent or given up.
    body_sealed = models.TextField(blank=True)
    # What the sender's app needs to decide at send time whether the email is
    # still wanted, and to record that it went out (ids, a token's hash).
    ref = models.JSONField(default=dict, blank=True)
    # A newer email with the same key replaces an older one not sent yet.
    dedupe_key = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A sender holds the row until then; a sender that died lets it go.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["dedupe_key"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to} ({self.status})"
