"""Client secrets that expire: the owner's reminders and the console's warnings.

An owner may give a client secret's expiry date (Entra secrets expire after at
most two years). The owner is emailed 30, 7 and 1 days before, through the
outbox, each reminder once per configuration: a ``SecretExpiryReminder`` row
is written in the transaction that queues the email, and its unique
constraint makes a second run of the daily task send nothing. A configuration
whose secret was replaced meanwhile (a new draft published) is no longer the
live one, so its pending reminder is not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from connections.models import Connection, ConnectionConfig, SecretExpiryReminder
from organizations.mail import email_enqueue
from organizations.models import Organization, OutboundEmail

__all__ = [
    "EXPIRY_EMAIL_KIND",
    "REMINDER_DAYS",
    "SecretExpiry",
    "secret_expiry_reminders_send",
    "secret_expiry_still_wanted",
    "secrets_expiring",
]

EXPIRY_EMAIL_KIND = "connection_secret_expiring"
# Days before the expiry date on which the owner is reminded.
REMINDER_DAYS = (30, 7, 1)
WARNING_DAYS = max(REMINDER_DAYS)


@dataclass(frozen=True)
class SecretExpiry:
    connection: Connection
    config: ConnectionConfig
    expires_on: date
    days_left: int
    is_live: bool


def _in_use(connection: Connection) -> ConnectionConfig | None:
    """The configuration whose secret signs people in: the live one, else the
    draft of a connection not published yet."""
    return connection.live or connection.draft


def secrets_expiring(
    organization: Organization | None = None,
    *,
    within: int = WARNING_DAYS,
    today: date | None = None,
) -> list[SecretExpiry]:
    """Secrets in use that expire within ``within`` days (or have expired).

    One query: the connections with their live and draft configurations.
    """
    today = today or timezone.localdate()
    horizon = date.fromordinal(today.toordinal() + within)
    connections = Connection.objects.select_related(
        "live", "draft", "organization"
    ).filter(
        Q(live__client_secret_expires_on__lte=horizon)
        | Q(live__isnull=True, draft__client_secret_expires_on__lte=horizon)
    )
    if organization is not None:
        connections = connections.filter(organization=organization)
    found = []
    for connection in connections.order_by("organization_id", "name", "id"):
        config = _in_use(connection)
        if config is None or not config.client_secret_encrypted:
            continue
        expires_on = config.client_secret_expires_on
        if expires_on is None:
            continue
        found.append(
            SecretExpiry(
                connection=connection,
                config=config,
                expires_on=expires_on,
                days_left=(expires_on - today).days,
                is_live=connection.live_id == config.pk,
            )
        )
    return found


def _reminder_due(days_left: int) -> int | None:
    """The reminder (30, 7 or 1) due with ``days_left`` days to go, if any."""
    if days_left < 0:
        return None
    due = [days for days in REMINDER_DAYS if days_left <= days]
    return min(due) if due else None


def secret_expiry_reminders_send(*, today: date | None = None) -> int:
    """Daily: queue each reminder that is due and not sent yet; returns how many.

    Idempotent: run twice on one day (or by two beat processes), it queues
    each reminder once.
    """
    sent = 0
    for expiry in secrets_expiring(today=today):
        days_before = _reminder_due(expiry.days_left)
        if days_before is None:
            continue
        try:
            with transaction.atomic():
                SecretExpiryReminder.objects.create(
                    config=expiry.config, days_before=days_before
                )
                _email_owner(expiry, days_before)
        except IntegrityError:
            continue  # this reminder went out before
        sent += 1
    return sent


def _email_owner(expiry: SecretExpiry, days_before: int) -> None:
    connection = expiry.connection
    org = connection.organization
    owner = User.objects.only("email").get(pk=org.owner_id)
    site = str(settings.SITE_URL).rstrip("/")
    context = {
        "organization": org,
        "connection": connection,
        "expires_on": expiry.expires_on,
        "days_left": expiry.days_left,
        "connection_url": site
        + reverse("connection_detail", args=[org.login_path, connection.pk]),
    }
    email_enqueue(
        to=owner.email,
        subject=ngettext(
            "The client secret of SSO connection '%(connection)s' expires in "
            "%(days)d day",
            "The client secret of SSO connection '%(connection)s' expires in "
            "%(days)d days",
            expiry.days_left,
        )
        % {"connection": connection.name, "days": expiry.days_left},
        text=render_to_string("connections/email/secret_expiring.txt", context),
        html=render_to_string("connections/email/secret_expiring.html", context),
        kind=EXPIRY_EMAIL_KIND,
        organization=org,
        ref={
            "connection_id": connection.pk,
            "config_id": expiry.config.pk,
            "days_before": days_before,
        },
    )


def secret_expiry_still_wanted(row: OutboundEmail) -> bool:
    """Send a reminder only while its configuration's secret is still in use."""
    connection = (
        Connection.objects.select_related("live", "draft")
        .filter(pk=row.ref.get("connection_id"))
        .first()
    )
    config = _in_use(connection) if connection is not None else None
    return config is not None and config.pk == row.ref.get("config_id")


def expiry_sentence(expiry: SecretExpiry) -> str:
    """One line for the console: which secret expires when."""
    if expiry.days_left < 0:
        return _("Its client secret expired on %(date)s.") % {
            "date": expiry.expires_on.isoformat()
        }
    return ngettext(
        "Its client secret expires on %(date)s, in %(days)d day.",
        "Its client secret expires on %(date)s, in %(days)d days.",
        expiry.days_left,
    ) % {"date": expiry.expires_on.isoformat(), "days": expiry.days_left}
