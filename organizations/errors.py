"""The refusals services raise.

A refusal has two faces: ``str(exc)`` is the sentence to show a person (marked
for translation where it is built, so it reads in their language), and
``exc.code`` is a short snake_case name that never changes, for tests, scripts
(JSON answers carry it as ``"code"``) and logs. Reword a sentence freely; never
change a code that has shipped.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """A refusal a person can act on. str() is the sentence to show them."""

    # Only for callers not yet given a code of their own (accounts, SSO): new
    # raise sites name theirs (tests/test_refusal_codes.py checks).
    default_code: ClassVar[str] = "refused"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class PermissionDenied(ServiceError):
    """The actor's role or staff permission does not allow the action."""

    default_code: ClassVar[str] = "permission_denied"
