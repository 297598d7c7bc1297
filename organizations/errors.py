class ServiceError(Exception):
    """A refusal a person can act on. str() is the sentence to show them."""


class PermissionDenied(ServiceError):
    pass


class AddressUnproven(PermissionDenied):
    """The account's email address is not proven yet, and the action decides
    who gets into an organization (organizations.permissions)."""

    code = "address_unproven"

    def __init__(self, email: str) -> None:
        super().__init__(
            f"Confirm your email address first: open the link we emailed to "
            f"{email}. Until then you can look around, but not invite people, "
            "change roles or mappings, or add domains or connections. No email? "
            "Choose “Send the link again” at the top of the page."
        )
