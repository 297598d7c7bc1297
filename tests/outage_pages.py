"""Run in a subprocess by tests/test_broker_outage.py: the console's pages that
queue work, clicked while CELERY_BROKER_URL points at a broker that refuses
connections or accepts them and never answers, through the real Celery client
(not eager). Then the broker "comes back" (tasks run in-process here) and the
outbox flush sends what waited.

Prints one JSON object: for each page, its status, how long it took and what it
said; the rows it left; the emails sent after the flush.
"""

from __future__ import annotations

import json
import re
import time

import django

django.setup()

from django.core import mail  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402


def _sentences(html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", m).strip()
        for m in re.findall(r'class="message message-[^"]*"[^>]*>(.*?)</p>', html, re.S)
    ]


def main() -> None:
    setup_test_environment()  # the locmem email backend's outbox, testserver
    call_command("migrate", verbosity=0)

    from config.celery import app
    from connections.models import ConnectionCheck
    from connections.services.connections import connection_create
    from domains.models import Domain
    from invitations.models import Invitation
    from organizations.broker import broker_pause_reset
    from organizations.mail import emails_flush
    from organizations.models import AuditEvent, OutboundEmail
    from rolemapping.models import Membership
    from tests.factories import make_org

    assert not app.conf.task_always_eager
    org = make_org("acme", name="Acme Inc")
    owner = org.owner
    membership = Membership.objects.get(organization=org, user=owner)
    connection = connection_create(
        actor_membership=membership,
        name="Okta",
        issuer_url="https://acme.okta.test",
        client_id="cid",
        client_secret="s3cret-value",
    )
    domain = Domain.objects.create(organization=org, name="acme.test", token="t")
    client = Client()
    client.force_login(owner, backend="accounts.backends.EmailPasswordBackend")
    pages: dict[str, dict] = {}

    def click(name: str, path: str, data: dict | None = None, **headers) -> None:
        began = time.monotonic()
        response = client.post(path, data or {}, follow=True, **headers)
        body = response.content.decode()
        pages[name] = {
            "status": response.status_code,
            "seconds": round(time.monotonic() - began, 2),
            "said": _sentences(body) if "json" not in response["Content-Type"] else [],
            "json": json.loads(body) if "json" in response["Content-Type"] else None,
            "will_be_sent": "will be sent" in body,
        }

    click(
        "invite",
        "/orgs/acme/invitations/",
        {"emails": "ann@acme.test, bob@acme.test, cy@acme.test", "role": "member"},
    )
    click("check", f"/orgs/acme/connections/{connection.pk}/test/")
    click(
        "check_json",
        f"/orgs/acme/connections/{connection.pk}/test/",
        HTTP_ACCEPT="application/json",
    )
    click("domain", f"/orgs/acme/domains/{domain.pk}/verify/")
    click("reset", "/accounts/password-reset/", {"email": owner.email})

    rows = {
        "invitations": Invitation.objects.count(),
        "invitation_audits": AuditEvent.objects.filter(
            action="invitation.created"
        ).count(),
        "outbox": sorted(
            OutboundEmail.objects.values_list("kind", "status", "attempts")
        ),
        "checks": [
            [c.status, c.result.get("code", ""), c.steps[0]["detail"]]
            for c in ConnectionCheck.objects.order_by("pk")
        ],
        "domain_detail": Domain.objects.get(pk=domain.pk).detail,
    }
    sent_before = len(mail.outbox)

    # The broker is back: the beat's flush sends what waited. It runs in the
    # worker, a process that did not see the refusals (here: tasks in-process).
    broker_pause_reset()
    app.conf.task_always_eager = True
    OutboundEmail.objects.update(next_attempt_at="2000-01-01T00:00Z")
    flushed = emails_flush()
    print(
        json.dumps(
            {
                "pages": pages,
                "rows": rows,
                "sent_before_flush": sent_before,
                "flushed": flushed,
                "sent": sorted(m.to[0] for m in mail.outbox),
                "outbox_after": sorted(
                    OutboundEmail.objects.values_list("kind", "status")
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
