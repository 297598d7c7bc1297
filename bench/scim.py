"""Section 10: directory sync (SCIM), as Okta pushes it.

Okta provisions one person at a time: a ``userName eq`` look-up, then a POST.
This phase does that for USERS people through the app in-process (Django's
test client, the real services and database), then makes the organization's
directory MEMBERS strong with ``bulk_create`` and times the look-up Okta
makes before every create. The look-up must stay one indexed query whatever
the size.

``python -m bench.scim`` runs this phase alone against ``DATABASE_URL`` (a
fresh temporary SQLite file when unset; migrated first) and prints its
section and targets.
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

USERS = int(os.environ.get("BENCH_SCIM_USERS", "1000"))
MEMBERS = int(os.environ.get("BENCH_SCIM_MEMBERS", "100000"))
LOOKUPS = 200
BATCH = 5000
DOMAIN = "scim-bench.com"
# The look-up's queries: the token, then the user. No more at any size.
LOOKUP_QUERY_TARGET = 2


@dataclass
class ScimResult:
    users: int = 0
    provision_s: float = 0.0
    members: int = 0
    seed_s: float = 0.0
    lookup_ms: list[float] = field(default_factory=list)
    lookup_queries: int = 0
    lookup_user_queries: int = 0
    index_used: bool = False
    plan: str = ""
    database: str = ""

    @property
    def users_per_s(self) -> float:
        return self.users / self.provision_s if self.provision_s else 0.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _organization(login_path: str) -> tuple[Any, str]:
    """An organization with a verified domain, a default role and a token,
    made through the services as the console makes them."""
    from accounts.models import User
    from directory.services import token_create
    from domains.models import Domain
    from organizations.models import Organization
    from organizations.services import organization_create
    from rolemapping.models import Membership

    owner = User.objects.create_user(email=f"owner@{login_path}.bench")
    owner.email_verified_at = owner.date_joined
    owner.save(update_fields=["email_verified_at"])
    org = organization_create(name=login_path, login_path=login_path, owner=owner)
    Organization.objects.filter(pk=org.pk).update(default_role="member")
    Domain.objects.create(
        organization=org,
        name=f"{login_path}.{DOMAIN}",
        token="t",
        status=Domain.Status.VERIFIED,
    )
    membership = Membership.objects.select_related("user", "role", "organization").get(
        organization=org, user=owner
    )
    _token, raw = token_create(actor_membership=membership, name="Okta (bench)")
    return org, raw


def _client(raw: str) -> Any:
    """A test client that speaks to the app as the IdP does: the site's host,
    the token."""
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.test import Client

    host = urlsplit(settings.SITE_URL).netloc
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HOST=host)


def _lookup_path(email: str) -> str:
    return "Users?filter=" + quote(f'userName eq "{email}"') + "&startIndex=1&count=2"


def _body(email: str, n: int) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": f"Person {n}", "familyName": "Bench"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"Person {n} Bench",
        "externalId": f"00u{n:08d}",
        "active": True,
    }


def provision(result: ScimResult) -> None:
    """USERS people, Okta's way: look up, then create, one at a time."""
    tag = secrets.token_hex(3)
    org, raw = _organization(f"scim-a-{tag}")
    client = _client(raw)
    base = f"/scim/v2/{org.login_path}/"
    domain = f"{org.login_path}.{DOMAIN}"
    began = time.perf_counter()
    for n in range(USERS):
        email = f"p{n}@{domain}"
        found = client.get(base + _lookup_path(email))
        assert found.status_code == 200 and found.json()["totalResults"] == 0
        created = client.post(
            base + "Users", _body(email, n), content_type="application/scim+json"
        )
        assert created.status_code == 201, created.content[:300]
    result.provision_s = time.perf_counter() - began
    result.users = USERS


def lookups_at_scale(result: ScimResult) -> None:
    """MEMBERS directory users in one organization, then timed look-ups."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from directory.models import ScimUser
    from directory.selectors import scim_users_page

    tag = secrets.token_hex(3)
    org, raw = _organization(f"scim-b-{tag}")
    domain = f"{org.login_path}.{DOMAIN}"
    began = time.perf_counter()
    for start in range(0, MEMBERS, BATCH):
        users = User.objects.bulk_create(
            [
                User(email=f"m{n}@{domain}", password="!")
                for n in range(start, min(MEMBERS, start + BATCH))
            ]
        )
        ScimUser.objects.bulk_create(
            [
                ScimUser(
                    organization=org,
                    user=user,
                    user_name=user.email,
                    user_name_key=user.email,
                    external_id=f"ext-{user.pk}",
                )
                for user in users
            ]
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE directory_scimuser")
    result.seed_s = time.perf_counter() - began
    result.members = MEMBERS

    client = _client(raw)
    base = f"/scim/v2/{org.login_path}/"
    client.get(base + "Users?count=1")  # the token's last use, once a minute
    rng = random.Random(18)
    for _ in range(LOOKUPS):
        # Mixed case, as IdPs send it: matched case-insensitively.
        email = f"M{rng.randrange(MEMBERS)}@{domain.upper()}"
        began = time.perf_counter()
        response = client.get(base + _lookup_path(email))
        result.lookup_ms.append((time.perf_counter() - began) * 1000)
        assert response.json()["totalResults"] == 1
    with CaptureQueriesContext(connection) as request_queries:
        client.get(base + _lookup_path(f"m1@{domain}"))
    result.lookup_queries = len(request_queries.captured_queries)
    with CaptureQueriesContext(connection) as lookup_queries:
        scim_users_page(org, {"userName": f"m2@{domain}"}, 1, 2)
    result.lookup_user_queries = len(lookup_queries.captured_queries)
    rows = ScimUser.objects.filter(
        organization=org, user_name_key=f"m3@{domain}"
    ).order_by()  # as the selector reads it
    result.plan = rows.explain()
    result.index_used = "scim_user_unique_username" in result.plan or (
        "USING INDEX" in result.plan and "user_name_key=?" in result.plan
    )
    result.database = connection.vendor


def measure() -> ScimResult:
    from django.test import override_settings

    result = ScimResult()
    # The per-token limit protects a live app; the bench measures the app.
    with override_settings(SCIM_RATE_LIMIT_PER_MINUTE=10**9):
        provision(result)
        lookups_at_scale(result)
    return result


def section(result: ScimResult | None) -> tuple[str, list[tuple[str, str, bool]]]:
    """The report's section 10 and its targets."""
    if result is None:
        return "Not measured in this run.", []
    p50 = _percentile(result.lookup_ms, 0.5)
    p95 = _percentile(result.lookup_ms, 0.95)
    rows = [
        ["users provisioned one by one (look-up + POST)", f"{result.users:,}"],
        ["users per second", f"{result.users_per_s:.1f}"],
        ["directory members at look-up time", f"{result.members:,}"],
        [
            f"`userName eq` look-up p50 / p95 ({LOOKUPS} requests)",
            f"{p50:.1f} / {p95:.1f} ms",
        ],
        ["queries per look-up request (token, user)", str(result.lookup_queries)],
        ["queries of the look-up itself", str(result.lookup_user_queries)],
        ["index used", "yes" if result.index_used else "no"],
        ["database", result.database],
    ]
    text = (
        "| measure | value |\n|---|---|\n"
        + "\n".join(f"| {a} | {b} |" for a, b in rows)
        + "\n\nIn-process (Django's test client): the figures are the app's and "
        "the database's, without HTTP or gunicorn. Plan of the look-up:\n\n"
        + "```\n"
        + result.plan
        + "\n```"
    )
    targets = [
        (
            f"SCIM `userName eq` look-up at {result.members:,} members: one indexed "
            "query",
            f"{result.lookup_user_queries} query, index "
            + ("used" if result.index_used else "not used"),
            result.lookup_user_queries == 1 and result.index_used,
        ),
        (
            "SCIM look-up request: token and user only",
            f"{result.lookup_queries} queries",
            result.lookup_queries <= LOOKUP_QUERY_TARGET,
        ),
    ]
    return text, targets


def main() -> int:
    if not os.environ.get("DATABASE_URL"):
        path = os.path.join(tempfile.mkdtemp(prefix="bench-scim-"), "db.sqlite3")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "True")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    result = measure()
    text, targets = section(result)
    print("## 10. Directory sync (SCIM)\n")
    print(text)
    print()
    for name, value, ok in targets:
        print(f"- {name}: {value} ({'met' if ok else 'MISSED'})")
    return 0 if all(ok for _n, _v, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
