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
