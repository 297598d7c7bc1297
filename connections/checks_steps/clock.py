"""Step 8: the IdP's clock, read from its ``Date`` header."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from connections.checks_steps.results import FAILED, PASSED, WARNING, Step


def clock_offset(date_header: str, sent_at: float, received_at: float) -> float:
    """Seconds the IdP's clock is ahead of ours (negative: behind).

    ``Date`` has one-second resolution and the request takes time, so the
    offset is measured from the middle of the exchange and the middle of the
    second. Raises ValueError when the header cannot be read.
    """
    try:
        server_time = parsedate_to_datetime(date_header).timestamp() + 0.5
    except (TypeError, ValueError, IndexError, OverflowError):
        raise ValueError("unreadable Date header") from None
    return server_time - (sent_at + received_at) / 2


def clock_step(
    date_header: str | None, sent_at: float, received_at: float, leeway: int
) -> Step:
    """Step 8 from the IdP's ``Date`` header and when the request went out.

    A second of slack is allowed on top of the leeway, for the header's
    one-second resolution.
    """
    if not date_header:
        return Step(
            "clock",
            WARNING,
            _(
                "The IdP's answers carry no Date header, so its clock could not be "
                "compared with this server's."
            ),
            _(
                "Make sure this server's clock is synchronised (NTP); ID tokens are "
                "accepted within %(leeway)d seconds of clock difference."
            )
            % {"leeway": leeway},
        )
    try:
        offset = clock_offset(date_header, sent_at, received_at)
    except ValueError:
        return Step(
            "clock",
            WARNING,
            _(
                "The IdP's Date header could not be read, so its clock could not be "
                "compared with this server's."
            ),
            _("Make sure this server's clock is synchronised (NTP)."),
        )
    seconds = round(offset)
    if abs(offset) > leeway + 1:
        # Every ID token would be refused as expired or not yet valid (or
        # accepted later than it should be): a failure, before anyone publishes.
        values = {"seconds": abs(seconds), "leeway": leeway}
        return Step(
            "clock",
            FAILED,
            (
                _(
                    "The IdP's clock is about %(seconds)d seconds ahead of this "
                    "server's, more than the %(leeway)d-second leeway: ID tokens "
                    "would be refused as expired or not yet valid."
                )
                if offset > 0
                else _(
                    "The IdP's clock is about %(seconds)d seconds behind this "
                    "server's, more than the %(leeway)d-second leeway: ID tokens "
                    "would be refused as expired or not yet valid."
                )
            )
            % values,
            _(
                "Synchronise this server's clock with NTP (and check the IdP's if "
                "you run it), or raise the connection's clock-skew leeway."
            ),
        )
    within = max(abs(seconds), 1)
    return Step(
        "clock",
        PASSED,
        ngettext(
            "The IdP's clock is within %(seconds)d second of this server's "
            "(leeway %(leeway)d seconds).",
            "The IdP's clock is within %(seconds)d seconds of this server's "
            "(leeway %(leeway)d seconds).",
            within,
        )
        % {"seconds": within, "leeway": leeway},
    )
