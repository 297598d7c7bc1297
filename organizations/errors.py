"""The refusals services raise.

A refusal has two faces: ``str(exc)`` is the sentence to show a person (marked
for translation where it is built, so it reads in their language), and
``exc.code`` is a short snake_case name that never changes, for tests, scripts
(JSON answers carry it as ``"code"``) and logs. Reword a sentence freely; never
change a code that has shipped.
"""

from __future__ import annotations

from typing import ClassVar

from django.utils.translation import gettext as _


class ServiceError(Exception):
    """A refusal a person can act on. str() is the sentence to show them."""

    # Every raise site names its code (tests/test_refusal_codes.py checks);
    # this one stands for a refusal built outside the apps (a test's, say).
    default_code: ClassVar[str] = "refused"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class PermissionDenied(ServiceError):
    """The actor's role or staff permission does not allow the action."""

    default_code: ClassVar[str] = "permission_denied"


class AddressUnproven(PermissionDenied):
    """The account's email address is not proven yet, and the action decides
    who gets into an organization (organizations.permissions)."""

    default_code: ClassVar[str] = "address_unproven"

    def __init__(self, email: str) -> None:
        super().__init__(
            _(
                "Confirm your email address first: open the link we emailed to "
                "%(email)s. Until then you can look around, but not invite people, "
                "change roles or mappings, or add domains or connections. No email? "
                "Choose “Send the link again” at the top of the page."
            )
            % {"email": email},
            code="address_unproven",
        )
