"""The one exception the OIDC protocol code raises, and wording shared by modules.

Messages are shown to organization admins on the connection's check page, so
they say what is wrong and how to fix it, in their language (gettext, read when
the error is raised). They never contain a token, a claim value that identifies
a person, or a secret: at most URLs, algorithm names and the issuer, which are
public configuration. ``step`` is the stable code tests and callers compare.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.utils.translation import gettext as _

# Host suffixes Okta serves orgs from; used only to decide whether to add
# Okta-specific advice to a message.
_OKTA_HOST_SUFFIXES = (
    ".okta.com",
    ".oktapreview.com",
    ".okta-emea.com",
    ".okta-gov.com",
    ".okta.mil",
)

# Untrusted strings quoted in messages (an issuer from a document or a token)
# are cut short so a hostile provider cannot fill the page.
_MAX_QUOTED = 200


class OIDCError(Exception):
    """A protocol failure at a named step.

    ``step`` is a short machine name ("discovery", "issuer_mismatch", "jwks",
    "signature", "alg", "iss", "aud", "exp", "nonce", ...). ``detail`` says
    what is wrong and ``fix`` what to do about it; ``str(error)`` joins them.
    """

    def __init__(self, step: str, detail: str, fix: str = "") -> None:
        self.step = step
        self.detail = detail
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The full sentence(s) to show a person."""
        return f"{self.detail} {self.fix}".strip()

    def __repr__(self) -> str:
        return f"OIDCError(step={self.step!r}, message={self.message!r})"


def quoted(value: str) -> str:
    """Quote an untrusted short string for a message, truncating long ones."""
    if len(value) > _MAX_QUOTED:
        value = value[:_MAX_QUOTED] + "…"
    return f"'{value}'"


def looks_like_okta(url: str) -> bool:
    """Whether a URL looks like an Okta org or Okta authorization server."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    return host.endswith(_OKTA_HOST_SUFFIXES) or parts.path.startswith("/oauth2/")


def issuer_mismatch_fix(expected: str, actual: str) -> str:
    """How to fix an issuer that differs from the configured one.

    Shared by discovery (the document's ``issuer``) and ID token validation
    (the ``iss`` claim) because the causes are the same.
    """
    names = {"issuer": quoted(actual)}
    if expected.rstrip("/") == actual.rstrip("/"):
        return (
            _(
                "They differ only by a trailing slash, and issuers are compared "
                "exactly: set the connection's issuer URL to %(issuer)s."
            )
            % names
        )
    fix = (
        _(
            "Set the connection's issuer URL to %(issuer)s if that is the provider "
            "you mean, or check that the URL you entered is the issuer, not another "
            "page of the provider."
        )
        % names
    )
    if looks_like_okta(expected) or looks_like_okta(actual):
        fix += " " + _(
            "In Okta, the org authorization server's issuer is "
            "'https://<your-org>.okta.com' and a custom authorization server's "
            "is 'https://<your-org>.okta.com/oauth2/<id>' (for example "
            "'/oauth2/default'): enter the one your Okta app uses. If you use a "
            "custom domain, open Security > API > Authorization Servers > "
            "(your server) > Settings and set Issuer to 'Okta URL' or your "
            "custom URL rather than 'Dynamic', so discovery and tokens report "
            "the same issuer."
        )
    return fix


def is_outbound_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OutboundError`` from the injected fetch.

    Checked by shape rather than by class so this package does not import
    ``connections.outbound`` (and Django settings) at import time; anything
    else a fetch raises is a bug and must propagate.
    """
    return isinstance(getattr(exc, "kind", None), str) and isinstance(exc, Exception)
