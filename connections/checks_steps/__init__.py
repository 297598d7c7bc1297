"""The connection check: eight steps against the identity provider.

1. URL policy of the issuer, 2. discovery document, 3. issuer, 4. URL policy of
every endpoint, 5. signing keys, 6. client credentials, 7. scopes and claims,
8. clock offset. Each step ends with a status (passed, failed, warning or
skipped), a detail that says what was found and, when something is wrong, a
fix that says what to change and where.

Pure protocol code: the network is reached only through the injected ``fetch``
(``connections.outbound.fetch``) and ``resolve``, so the steps run against
fakes too, and nothing here touches the database.
``connections.services.checks`` runs them for a stored configuration.
"""

from connections.checks_steps.clock import clock_offset, clock_step
from connections.checks_steps.policy import (
    Resolve,
    ResolveError,
    UrlPolicy,
    resolve_host,
)
from connections.checks_steps.results import (
    FAILED,
    PASSED,
    SKIPPED,
    STEPS,
    WARNING,
    CheckInput,
    CheckOutcome,
    CheckPolicy,
    Step,
)
from connections.checks_steps.steps import run_check

__all__ = [
    "FAILED",
    "PASSED",
    "SKIPPED",
    "STEPS",
    "WARNING",
    "CheckInput",
    "CheckOutcome",
    "CheckPolicy",
    "Resolve",
    "ResolveError",
    "Step",
    "UrlPolicy",
    "clock_offset",
    "clock_step",
    "resolve_host",
    "run_check",
]
