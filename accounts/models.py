"""People: the user model, whose email address is the login, and the sign-ups
waiting for their emailed link."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


def canonical_email(value: str) -> str:
    """The one spelling of an address that accounts are stored and looked up by.

    Stripped, lower-cased, and without the one trailing dot a domain may carry
    ("Ada@Acme.Test." is ada@acme.test): every look-up by address goes
    through here, so no spelling makes a second account or misses the first.
    """
    text = (value or "").strip().lower()
    local, at, domain = text.rpartition("@")
    if at and domain.endswith(".") and not domain.endswith(".."):
        text = f"{local}@{domain[:-1]}"
    return text


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=canonical_email(email), **extra)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str, **extra) -> User:
        # An operator made it: the address is as proven as the operator says.
        extra.update(is_staff=True, is_superuser=True)
        extra.setdefault("email_verified_at", timezone.now())
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The email (stored in its canonical spelling) is the login."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # When the address was proven to belong to whoever holds this account (an
    # email link opened with the password, an invitation link, a password
    # reset, a sign-in through a verified domain); None: never. Set by
    # accounts.services.user_email_prove, or at creation for an account an
    # operator or an SSO sign-in makes. docs/ARCHITECTURE.md, "Security
    # model", says what it unlocks.
    email_verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        self.email = canonical_email(self.email)
        super().save(*args, **kwargs)

    @property
    def email_proven(self) -> bool:
        return self.email_verified_at is not None


class PendingSignup(models.Model):
    """A sign-up waiting for its emailed link (accounts.services.owner_signup).

    Nothing a sign-up asks for exists until the link is opened with the
    password: not the account, not the organization, not its login path. So a
    sign-up leaves nothing anyone else can see, whether or not the address had
    an account (docs/ARCHITECTURE.md, "Security model"). An address may have
    several, one per link sent; the first confirmed makes the account and ends
    the others.
    """

    # Random, and named by the signed token of the link: never guessed, never
    # reused.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(db_index=True)  # canonical_email's spelling
    # The password's hash (make_password), never the password: it becomes the
    # account's.
    password = models.CharField(max_length=128)
    org_name = models.CharField(max_length=100)
    login_path = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    # Wrong passwords typed on the link's page; too many and the row is gone.
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return self.email


class SessionRecord(models.Model):
    """One signed-in session that can reach one organization: the index that
    lets an organization end a person's sessions at once (directory sync
    deprovisioning, back-channel logout, "sign out everywhere").

    Written at sign-in by accounts.sessions, deleted at sign-out or when the
    session is ended. The session key is a bearer credential: it is stored
    encrypted (to end the session in its store) and looked up by its digest.
    """

    session_digest = models.CharField(max_length=64)
    session_key_encrypted = models.TextField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+"
    )
    # The IdP's session id (the ID token's `sid`), when this session came
    # from that organization's IdP and it sent one.
    idp_sid = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session_digest", "organization"],
                name="session_record_once_per_org",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "user"], name="session_org_user"),
            models.Index(fields=["organization", "idp_sid"], name="session_org_sid"),
            models.Index(fields=["session_digest"], name="session_digest"),
        ]

    def __str__(self) -> str:
        return f"session of user {self.user_id} in organization {self.organization_id}"
