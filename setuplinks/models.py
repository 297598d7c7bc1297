"""Setup links: an owner lets their IT admin configure the draft connection.

Rows change only through ``setuplinks.services``. Only a SHA-256 of the
link's token is stored (the owner sees the link once), and only a SHA-256 of
the secret that binds it to the one browser that opened it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SetupLink(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"
        EXPIRED = "expired"

    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="setup_links",
    )
    # The IT admin the owner made it for; recorded on everything they do.
    email = models.EmailField(max_length=254)
    note = models.CharField(max_length=200, blank=True)
    # The connection the link works on: chosen by the owner, or the one the
    # IT admin creates through it (None until then).
    connection = models.ForeignKey(
        "connections.Connection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="setup_links",
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The first browser that opened it (a POST, so link previewers that only
    # GET cannot take it); "" until then. Only that browser may use it.
    opened_at = models.DateTimeField(null=True, blank=True)
    binding_hash = models.CharField(max_length=64, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"setup link for {self.email}"

    def state_at(self, now=None) -> str:
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        return self.State.ACTIVE

    @property
    def state(self) -> str:
        return self.state_at()
