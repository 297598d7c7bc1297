"""Roles, memberships and IdP group-to-role mappings."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.Model):
    """A role inside one organization, seeded with the organization."""

    class Slug(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer"

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="roles"
    )
    slug = models.CharField(max_length=20, choices=Slug.choices)
    name = models.CharField(max_length=50)
    rank = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"], name="role_unique_slug"
            )
        ]
        ordering = ["-rank"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Source(models.TextChoices):
        OWNER = "owner"
        INVITATION = "invitation"
        SSO = "sso"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="members")
    source = models.CharField(max_length=12, choices=Source.choices)
    is_active = models.BooleanField(default=True)
    managed_by_idp = models.BooleanField(default=False)
    # Provisioned by the organization's directory (SCIM): its role follows the
    # directory's groups and is locked from manual edits.
    managed_by_directory = models.BooleanField(default=False)
    # The directory deactivated or deleted this person: no sign-in, invitation
    # or just-in-time provisioning brings them back until it reactivates them.
    directory_suspended = models.BooleanField(default=False)
    idp_groups = models.JSONField(default=list, blank=True)
    last_sso_login_at = models.DateTimeField(null=True, blank=True)
    # The role of the last invitation this person accepted here (a slug, "" for
    # none): a sign-in that matches no mapping keeps it rather than falling back
    # to the default role.
    invited_role = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="membership_unique"
            )
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organization_id}"


class GroupRoleMapping(models.Model):
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="group_mappings",
    )
    idp_group = models.CharField(max_length=255)
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="mappings")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idp_group"], name="mapping_unique_group"
            )
        ]
        ordering = ["idp_group"]

    def __str__(self) -> str:
        return f"{self.idp_group} -> {self.role_id}"


class IdpGroupName(models.Model):
    """A name the IdP gave one of its group identifiers (Entra ID sends group
    object IDs; Microsoft Graph names them during an owner's test sign-in), so
    the mapping page can show "Engineering" beside a GUID. Display only:
    sign-in decisions read ``GroupRoleMapping.idp_group``, never this."""

    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="idp_group_names",
    )
    idp_group = models.CharField(max_length=255)
    display_name = models.CharField(max_length=256)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idp_group"], name="idp_group_name_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.idp_group} ({self.display_name})"
