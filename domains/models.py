"""Email domains an organization claims, and whether DNS proves the claim."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Domain(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        VERIFIED = "verified"
        FAILED = "failed"

    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="domains",
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
