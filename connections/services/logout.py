"""Back-channel logout: the IdP says a session ended, and it ends here too.

OpenID Connect Back-Channel Logout 1.0. The provider POSTs a logout token;
``backchannel_logout`` finds the live connection it is for (by ``iss``, then
``aud``: one IdP tenant may serve several organizations, each with its own
client ID), validates it with that connection's keys (``oidc.logout`` through
the backend's key cache), keeps its ``jti`` used once in the shared cache, and
ends the sessions of that IdP session (``sid``) or, without one, of that
person (``sub``) in that organization (``accounts.sessions``). Each accepted
token is one audit row; refused ones are only logged by the view (anyone can
POST to the endpoint, so refusals write nothing).
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.sessions import sessions_end
from connections.backend import OrganizationOIDCBackend
from connections.models import ConnectionConfig
from connections.oidc.errors import OIDCError
from connections.oidc.logout import (
    LogoutToken,
    jti_ttl,
    logout_refusal,
    logout_token_addressees,
)
from connections.selectors import identity_user_id, live_configs_for_issuer
from organizations.errors import ServiceError
from organizations.services import audit

__all__ = ["LogoutRefused", "backchannel_logout", "backchannel_logout_apply"]

# Steps at which the token could not be checked, rather than found wrong: the
# provider's discovery document or key set did not answer. The provider is
# told to try again later (503), as for any failure of ours.
UNAVAILABLE_STEPS = frozenset({"discovery", "jwks", "idp_paused"})


class LogoutRefused(ServiceError):
    """A logout token this site refuses; ``code`` is the step that refused it.

    ``unavailable``: the token could not be checked now (the provider's keys
    did not answer), so the answer is 503, not 400.
    """

    def __init__(
        self,
        step: str,
        sentence: str,
        *,
        unavailable: bool = False,
        connection_id: int | None = None,
    ) -> None:
        super().__init__(sentence, code=step)
        self.step = step
        self.unavailable = unavailable
        self.connection_id = connection_id


def _refused(exc: OIDCError, connection_id: int | None = None) -> LogoutRefused:
    return LogoutRefused(
        exc.step,
        exc.message,
        unavailable=exc.step in UNAVAILABLE_STEPS,
        connection_id=connection_id,
    )


def _jti_key(issuer: str, jti: str) -> str:
    digest = hashlib.sha256(f"{issuer}\n{jti}".encode()).hexdigest()
    return f"sso:logout-jti:{digest}"


def backchannel_logout(raw: object, *, ip: str | None = None) -> int:
    """Validate a logout token and end the sessions it names; how many ended.

    Raises LogoutRefused for a token that is not valid for any live
    connection (or was used before), naming the rule it broke.
    """
    try:
        issuer, audiences = logout_token_addressees(raw)
    except OIDCError as exc:
        raise _refused(exc) from None
    configs = live_configs_for_issuer(issuer)
    if not configs:
        raise _refused(logout_refusal("iss"))
    addressed = [config for config in configs if config.client_id in audiences]
    if not addressed:
        raise _refused(logout_refusal("aud"))
    assert isinstance(raw, str)  # logout_token_addressees refuses anything else
    accepted: list[tuple[ConnectionConfig, LogoutToken]] = []
    refusal: LogoutRefused | None = None
    for config in addressed:
        try:
            token = OrganizationOIDCBackend(config).verify_logout_token(raw)
        except OIDCError as exc:
            refusal = refusal or _refused(exc, config.connection_id)
            continue
        accepted.append((config, token))
    if not accepted:
        assert refusal is not None
        raise refusal
    longest_leeway = max(config.leeway_seconds for config, _token in accepted)
    first = accepted[0][1]
    # Atomic in the shared cache: of two workers given the same token, one
    # ends the sessions and the other refuses it.
    if not cache.add(_jti_key(issuer, first.jti), 1, jti_ttl(longest_leeway)):
        raise LogoutRefused(
            "jti_replayed",
            _("This logout token was already used (its 'jti')."),
            connection_id=accepted[0][0].connection_id,
        )
    return sum(
        backchannel_logout_apply(config=config, token=token, ip=ip)
        for config, token in accepted
    )


@transaction.atomic
def backchannel_logout_apply(
    *, config: ConnectionConfig, token: LogoutToken, ip: str | None = None
) -> int:
    """End the sessions a validated logout token names in the connection's
    organization: by ``sid`` when it has one, else every session of the
    person its ``sub`` signs in as. Audited; how many sessions ended."""
    connection = config.connection
    organization_id = connection.organization_id
    if token.sid:
        ended = sessions_end(organization_id=organization_id, idp_sid=token.sid)
        by = "sid"
    else:
        assert token.sub is not None  # oidc.logout requires sid or sub
        user_id = identity_user_id(
            connection_id=connection.pk, issuer=token.issuer, subject=token.sub
        )
        ended = (
            sessions_end(organization_id=organization_id, user_id=user_id)
            if user_id is not None
            else 0
        )
        by = "sub"
    audit(
        action="sso.backchannel_logout",
        organization=connection.organization,
        actor=None,
        target=token.sub or "",
        details={"connection_id": connection.pk, "by": by, "sessions_ended": ended},
        ip=ip,
    )
    return ended
