"""What a connection check takes and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from django.utils.translation import gettext_lazy as _

from connections.oidc.client_auth import AssertionKey

PASSED: Final = "passed"
FAILED: Final = "failed"
WARNING: Final = "warning"
SKIPPED: Final = "skipped"

# (key, name shown to people), in the order they run. The key is the step's
# stable code; the name is translated when a step is recorded.
STEPS: Final = (
    ("url_policy", _("URL policy")),
    ("discovery", _("Discovery document")),
    ("issuer", _("Issuer")),
    ("endpoints", _("Endpoint URL policy")),
    ("jwks", _("Signing keys (JWKS)")),
    ("client_credentials", _("Client credentials")),
    ("scopes_claims", _("Scopes and claims")),
    ("clock", _("Clock offset")),
)
_NAMES: Final = dict(STEPS)


@dataclass(frozen=True)
class CheckInput:
    """What one configuration asks of the IdP. ``repr`` never shows the secret
    or the key."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ("openid", "email", "profile", "groups")
    groups_claim: str = "groups"
    email_claim: str = "email"
    leeway_seconds: int = 60
    okta: bool = False
    # The connection's provider (connections.oidc.providers): its own rules
    # and advice in its own menu names.
    provider: str = "oidc"
    # Empty: the first secret method the IdP advertises (or private_key_jwt
    # when there is no secret).
    token_auth_method: str = ""
    # The connection's active signing key, for private_key_jwt.
    assertion_key: AssertionKey | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CheckPolicy:
    """The URL policy and time budget the check runs under."""

    allow_insecure: bool = False
    allow_private: bool = False
    dns_timeout: float = 3.0


@dataclass(frozen=True)
class Step:
    key: str
    status: str
    detail: str
    fix: str = ""

    @property
    def name(self) -> str:
        return str(_NAMES[self.key])

    def as_dict(self) -> dict[str, str]:
        """The stored shape: {"key", "name", "status", "detail", "fix"}."""
        return {
            "key": self.key,
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass
class CheckOutcome:
    steps: list[Step]
    # Public facts for the check page and audit: issuer, algorithms, the token
    # endpoint auth method, the clock offset. Never a secret or a token.
    summary: dict[str, Any]

    @property
    def passed(self) -> bool:
        return len(self.steps) == len(STEPS) and not any(
            step.status == FAILED for step in self.steps
        )
