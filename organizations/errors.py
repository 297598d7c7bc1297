class ServiceError(Exception):
    """A refusal a person can act on. str() is the sentence to show them."""


class PermissionDenied(ServiceError):
    pass
