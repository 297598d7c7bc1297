"""The server-error page, which says which part is down when one is.

Django calls ``handler500`` while the exception is being handled, so
``sys.exc_info()`` names it. A database, cache (sessions live there) or broker
that does not answer gets a 503 that says so and when to try again, instead of
"something went wrong"; anything else stays a plain 500.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _lazy
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True)
class Outage:
    what: StrOrPromise
    consequence: StrOrPromise


_OUTAGES: tuple[tuple[tuple[type[BaseException], ...], Outage], ...] = (
    (
        (RedisConnectionError, RedisTimeoutError),
        Outage(
            _lazy("The cache and session store (Redis) is not answering."),
            _lazy("Signing in and keeping you signed in need it."),
        ),
    ),
    (
        (DatabaseOperationalError, DatabaseInterfaceError),
        Outage(
            _lazy("The database is not answering."),
            _lazy("Nothing can be read or saved until it is back."),
        ),
    ),
    (
        (BrokerOperationalError,),
        Outage(
            _lazy("The task queue (broker) is not answering."),
            _lazy("Checks and emails are queued there."),
        ),
    ),
)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def outage_of(exc: BaseException | None) -> Outage | None:
    """Which dependency ``exc`` (or what caused it) says is down, if any."""
    for error in _chain(exc):
        for kinds, outage in _OUTAGES:
            if isinstance(error, kinds):
                return outage
    return None


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a 503 naming the part that is down, else the 500 page."""
    outage = outage_of(sys.exc_info()[1])
    if outage is None:
        return HttpResponse(render_to_string("500.html"), status=500)
    # Rendered without the request: its context processors need what is down.
    body = render_to_string(
        "503.html",
        {
            "what": outage.what,
            "consequence": outage.consequence,
            "retry_after": RETRY_AFTER_SECONDS,
        },
    )
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


__all__ = ["outage_of", "server_error"]
