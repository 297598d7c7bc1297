"""What a connection check takes and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

PASSED: Final = "passed"
FAILED: Final = "failed"
WARNING: Final = "warning"
SKIPPED: Final = "skipped"

# (key, name shown to people), in the order they run.
STEPS: Final = (
    ("url_policy", "URL policy"),
    ("discovery", "Discovery document"),
    ("issuer", "Issuer"),
    ("endpoints", "Endpoint URL policy"),
    ("jwks", "Signing keys (JWKS)"),
    ("client_credentials", "Client credentials"),
    ("scopes_claims", "Scopes and claims"),
    ("clock", "Clock offset"),
)
_NAMES: Final = dict(STEPS)


@dataclass(frozen=True)
class CheckInput:
    """What one configuration asks of the IdP. ``repr`` never shows the secret."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ("openid", "email", "profile", "groups")
    groups_claim: str = "groups"
    email_claim: str = "email"
    leeway_seconds: int = 60
    okta: bool = False


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
        return _NAMES[self.key]

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
