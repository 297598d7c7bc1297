"""Directory sync: the SCIM tokens an organization's IdP pushes with, and the
users and groups it pushed.

Rows change only through ``directory.services``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ScimToken(models.Model):
    """A bearer token a directory (Okta, Entra ID) authenticates with.

    Only the SHA-256 digest of the token is kept (a token is 256 random bits,
    so a plain digest is enough and one indexed look-up finds it); the prefix
    is shown so admins can tell tokens apart. Several may be live at once, so
    rotation needs no downtime.
    """

    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="scim_tokens",
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ScimUser(models.Model):
    """A user a directory provisioned into an organization: the SCIM resource,
    linked to the account of its address (``userName``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="scim_users",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # As the directory spelled it, and canonical_email's spelling for look-ups
    # (userName is matched without regard to case).
    user_name = models.CharField(max_length=254)
    user_name_key = models.CharField(max_length=254)
    external_id = models.CharField(max_length=255, blank=True)
    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user_name_key"],
                name="scim_user_unique_username",
            ),
            models.UniqueConstraint(
                fields=["organization", "user"], name="scim_user_unique_account"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "external_id"], name="scim_user_external"
            ),
        ]

    def __str__(self) -> str:
        return self.user_name


class ScimGroup(models.Model):
    """A group a directory pushed; its name (and external id) are matched
    against the organization's group mappings."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="scim_groups",
    )
    display_name = models.CharField(max_length=255)
    external_id = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(ScimUser, related_name="groups", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["display_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "display_name"],
                name="scim_group_unique_name",
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "external_id"], name="scim_group_external"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name
