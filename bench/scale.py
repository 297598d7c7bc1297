"""In-process measurements with Django's test client against the bench database.

Scale data is written with ``bulk_create`` (the point is the size of the
tables, not how they were filled); the organization that signs in is made
through the services, as the product makes it. Queries are counted with
``CaptureQueriesContext``; times are wall-clock medians of repeated requests.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from connections.models import Connection, ConnectionCheck, ConnectionConfig
from domains.models import Domain
from domains.services import verified_domain_org
from invitations.models import Invitation
from organizations.crypto import encrypt_secret
from organizations.models import AuditEvent, Organization
from organizations.services import organization_create
from rolemapping.models import GroupRoleMapping, Membership, Role
from tests.connections.sso.helpers import make_connection
from tests.fixtures.idp import IdP

from .counted import counted_sign_in
from .load import median, percentile

BATCH = 5000
PAGE_SIZE = 50
TIMED_REPEATS = 5
ROLE_CYCLE = (Role.Slug.VIEWER, Role.Slug.MEMBER, Role.Slug.ADMIN)


def _host(site_url: str) -> str:
    return urlsplit(site_url).netloc


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# ----------------------------------------------------------------- the org


def seed_signin_org(
    *, login_path: str, domain: str, issuer: str, client_id: str, secret: str
) -> Organization:
    """The organization people sign in to: verified domain, default role, live."""
    owner = User.objects.create_user(email=f"owner@{domain}")
    org = organization_create(name="Bench Inc", login_path=login_path, owner=owner)
    Domain.objects.create(
        organization=org,
        name=domain,
        token=secrets.token_hex(16),
        status=Domain.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    org.default_role = Role.Slug.MEMBER
    org.save(update_fields=["default_role"])
    make_connection(org, issuer=issuer, client_id=client_id, client_secret=secret)
    return org


def set_mappings(org: Organization, groups: list[str]) -> None:
    """Replace the organization's group mappings with one per group."""
    roles = {r.slug: r for r in Role.objects.filter(organization=org)}
    GroupRoleMapping.objects.filter(organization=org).delete()
    GroupRoleMapping.objects.bulk_create(
        [
            GroupRoleMapping(
                organization=org,
                idp_group=group,
                role=roles[ROLE_CYCLE[i % len(ROLE_CYCLE)]],
            )
            for i, group in enumerate(groups)
        ],
        batch_size=BATCH,
    )


# ------------------------------------------------------- queries per sign-in


@dataclass(frozen=True)
class SignInQueries:
    """Queries of one sign-in: the start request and the callback."""

    organizations: int
    groups: int
    first_start: int
    first_callback: int
    repeat_start: int
    repeat_callback: int


def _counted_sign_in(
    idp: IdP, browser, site_url: str, login_path: str, email: str
) -> tuple[int, int]:
    counted = counted_sign_in(
        idp,
        browser,
        host=_host(site_url),
        start_url=f"/sso/login/{login_path}/?next=/accounts/me/",
        email=email,
    )
    return counted.start, counted.callback


def signin_queries(
    idp: IdP, *, site_url: str, org: Organization, domain: str, groups: int, tag: str
) -> SignInQueries:
    """Queries of a first and a repeat sign-in of a person in ``groups`` groups,
    with as many group mappings in the organization."""
    names = [f"group-{i:04d}" for i in range(groups)]
    set_mappings(org, names)
    sub = f"q-{tag}-{groups}"
    email = f"{sub}@{domain}"
    idp.add_account(sub, email, groups=names)
    browser = idp.http_session()
    first = _counted_sign_in(idp, browser, site_url, org.login_path, email)
    repeat = _counted_sign_in(idp, browser, site_url, org.login_path, email)
    return SignInQueries(
        organizations=Organization.objects.count(),
        groups=groups,
        first_start=first[0],
        first_callback=first[1],
        repeat_start=repeat[0],
        repeat_callback=repeat[1],
    )


@dataclass(frozen=True)
class CallbackBreakdown:
    """Where a warm callback's time goes, measured in-process (medians, ms)."""

    samples: int
    total_ms: float
    sql_ms: float
    sql_queries: int
    idp_ms: float
    idp_requests: int

    @property
    def python_ms(self) -> float:
        return max(0.0, self.total_ms - self.sql_ms - self.idp_ms)


def callback_breakdown(
    idp: IdP, *, site_url: str, org: Organization, domain: str, samples: int = 20
) -> CallbackBreakdown:
    """Time warm callbacks of a returning person, split into SQL, the IdP
    round trips (the outbound client) and the rest (Python in this process)."""
    from connections import outbound

    sub = "breakdown"
    email = f"{sub}@{domain}"
    idp.add_account(sub, email, groups=["Engineering"])
    browser = idp.http_session()
    _counted_sign_in(idp, browser, site_url, org.login_path, email)
    sql: list[float] = []
    fetches: list[float] = []

    def timed_query(execute, sql_text, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql_text, params, many, context)
        finally:
            sql.append(time.perf_counter() - began)

    real_fetch = outbound.fetch

    def timed_fetch(*args, **kwargs):
        began = time.perf_counter()
        try:
            return real_fetch(*args, **kwargs)
        finally:
            fetches.append(time.perf_counter() - began)

    totals, sql_ms, idp_ms, counts, requests_ = [], [], [], [], []
    outbound.fetch = timed_fetch
    try:
        for _ in range(samples):
            client = Client(HTTP_HOST=_host(site_url))
            start = client.get(f"/sso/login/{org.login_path}/")
            back = idp.login(browser, start["Location"], email)
            sql.clear()
            fetches.clear()
            with connection.execute_wrapper(timed_query):
                began = time.perf_counter()
                done = client.get(_path(back))
                totals.append((time.perf_counter() - began) * 1000)
            if done.status_code != 302:
                raise AssertionError(f"callback: HTTP {done.status_code}")
            sql_ms.append(sum(sql) * 1000)
            idp_ms.append(sum(fetches) * 1000)
            counts.append(len(sql))
            requests_.append(len(fetches))
    finally:
        outbound.fetch = real_fetch
    return CallbackBreakdown(
        samples=samples,
        total_ms=median(totals),
        sql_ms=median(sql_ms),
        sql_queries=int(median(counts)),
        idp_ms=median(idp_ms),
        idp_requests=int(median(requests_)),
    )


# ----------------------------------------------------------- data at scale


@dataclass(frozen=True)
class ScaleData:
    organizations: int
    verified_domains: int
    live_connections: int
    seconds: float
    sample_domains: list[str]
    live_sample_domains: list[str]


def seed_scale(
    *,
    organizations: int,
    domains_per_org: int,
    live_connections: int,
    issuer: str,
    client_id: str,
    secret: str,
) -> ScaleData:
    """Organizations (owner, seeded roles, owner membership), verified domains,
    and enough live connections that ``live_connections`` exist in all."""
    began = time.perf_counter()
    now = timezone.now()
    unusable = make_password(None)
    owners = User.objects.bulk_create(
        [
            User(email=f"owner-{i:05d}@scale.test", password=unusable)
            for i in range(organizations)
        ],
        batch_size=BATCH,
    )
    orgs = Organization.objects.bulk_create(
        [
            Organization(name=f"Scale {i:05d}", login_path=f"scale-{i:05d}", owner=o)
            for i, o in enumerate(owners)
        ],
        batch_size=BATCH,
    )
    roles = Role.objects.bulk_create(
        [
            Role(organization=org, slug=slug, name=slug.title(), rank=rank)
            for org in orgs
            for slug, rank in (("owner", 4), ("admin", 3), ("member", 2), ("viewer", 1))
        ],
        batch_size=BATCH,
    )
    Membership.objects.bulk_create(
        [
            Membership(
                user=org.owner,
                organization=org,
                role=roles[4 * i],
                source=Membership.Source.OWNER,
            )
            for i, org in enumerate(orgs)
        ],
        batch_size=BATCH,
    )
    domains = [
        Domain(
            organization=org,
            name=f"d{j}-{i:05d}.scale.test",
            token=f"{i:05d}{j}",
            status=Domain.Status.VERIFIED,
            verified_at=now,
        )
        for i, org in enumerate(orgs)
        for j in range(domains_per_org)
    ]
    Domain.objects.bulk_create(domains, batch_size=BATCH)
    wanted = live_connections - Connection.objects.filter(live__isnull=False).count()
    live_orgs = orgs[: max(0, wanted)]
    _bulk_live_connections(live_orgs, issuer=issuer, client_id=client_id, secret=secret)
    with connection.cursor() as cursor:
        # A database that grew this fast has no planner statistics yet; a
        # production one would (autovacuum), so the plans match production's.
        cursor.execute("ANALYZE")
    rng = random.Random(9)
    live_ids = {org.pk for org in live_orgs}
    live_domains = [d.name for d in domains if d.organization_id in live_ids]
    return ScaleData(
        organizations=Organization.objects.count(),
        verified_domains=Domain.objects.filter(status=Domain.Status.VERIFIED).count(),
        live_connections=Connection.objects.filter(live__isnull=False).count(),
        seconds=time.perf_counter() - began,
        sample_domains=[d.name for d in rng.sample(domains, 1000)],
        live_sample_domains=rng.sample(live_domains, min(200, len(live_domains))),
    )


def _bulk_live_connections(
    orgs: list[Organization], *, issuer: str, client_id: str, secret: str
) -> None:
    now = timezone.now()
    sealed = encrypt_secret(secret)
    connections = Connection.objects.bulk_create(
        [
            Connection(
                organization=org,
                name="Company IdP",
                provider=Connection.Provider.OIDC,
                published_at=now,
            )
            for org in orgs
        ],
        batch_size=BATCH,
    )
    configs = []
    for conn in connections:
        config = ConnectionConfig(
            connection=conn,
            issuer_url=issuer,
            client_id=client_id,
            client_secret_encrypted=sealed,
        )
        # bulk_create skips save(), which computes the fingerprint.
        config.fingerprint = config.compute_fingerprint()
        configs.append(config)
    ConnectionConfig.objects.bulk_create(configs, batch_size=BATCH)
    for conn, config in zip(connections, configs, strict=True):
        conn.draft = conn.live = config
    Connection.objects.bulk_update(connections, ["draft", "live"], batch_size=BATCH)


# ------------------------------------------------------- email-first routing


@dataclass(frozen=True)
class RoutingResult:
    verified_domains: int
    selector_ms: list[float]
    selector_queries: int
    post_ms: list[float]
    post_queries: int
    miss_ms: list[float]
    uses_index: bool
    plan: str


def measure_routing(
    *, site_url: str, scale: ScaleData, verified_domains: int
) -> RoutingResult:
    """``verified_domain_org`` and ``POST /login/`` over random verified domains."""
    selector_ms = []
    for name in scale.sample_domains:
        began = time.perf_counter()
        org = verified_domain_org(name)
        selector_ms.append((time.perf_counter() - began) * 1000)
        if org is None:
            raise AssertionError(f"{name} is verified but was not routed")
    with CaptureQueriesContext(connection) as captured:
        verified_domain_org(scale.sample_domains[0])
    selector_queries = len(captured)
    miss_ms = []
    for i in range(200):
        began = time.perf_counter()
        if verified_domain_org(f"nobody-{i}.unknown.test") is not None:
            raise AssertionError("an unknown domain was routed")
        miss_ms.append((time.perf_counter() - began) * 1000)
    client = Client(HTTP_HOST=_host(site_url))
    post_ms = []
    post_queries = 0
    for name in scale.live_sample_domains:
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = client.post("/login/", {"email": f"someone@{name}"})
            post_ms.append((time.perf_counter() - began) * 1000)
        post_queries = max(post_queries, len(queries))
        if response.status_code != 302 or "/sso/login/" not in response["Location"]:
            raise AssertionError(f"someone@{name} was not routed to SSO")
    plan = Domain.objects.filter(
        name=scale.sample_domains[0], status=Domain.Status.VERIFIED
    ).explain()
    return RoutingResult(
        verified_domains=verified_domains,
        selector_ms=selector_ms,
        selector_queries=selector_queries,
        post_ms=post_ms,
        post_queries=post_queries,
        miss_ms=miss_ms,
        uses_index="Index" in plan,
        plan=" ".join(plan.split())[:200],
    )


# ------------------------------------------------------------ console pages

CONSOLE_PAGES = (
    ("members", "/orgs/{org}/members/", "mem-row-"),
    ("invitations", "/orgs/{org}/invitations/", "inv-row-"),
    ("mappings", "/orgs/{org}/mappings/", "map-row-"),
    ("audit", "/orgs/{org}/audit/", "aud-row-"),
)


def seed_console_org(login_path: str, rows: int) -> tuple[Organization, User]:
    """An organization with ``rows`` members, invitations, mappings and audit
    events; every row carries a marker so a page's rows can be counted."""
    owner = User.objects.create_user(email=f"owner@{login_path}.test")
    org = organization_create(name=login_path, login_path=login_path, owner=owner)
    roles = {r.slug: r for r in Role.objects.filter(organization=org)}
    unusable = make_password(None)
    users = User.objects.bulk_create(
        [
            User(email=f"mem-row-{i:05d}@{login_path}.test", password=unusable)
            for i in range(rows)
        ],
        batch_size=BATCH,
    )
    Membership.objects.bulk_create(
        [
            Membership(
                user=user,
                organization=org,
                role=roles[Role.Slug.MEMBER],
                source=Membership.Source.SSO,
                managed_by_idp=True,
                idp_groups=["Engineering"],
            )
            for user in users
        ],
        batch_size=BATCH,
    )
    now = timezone.now()
    Invitation.objects.bulk_create(
        [
            Invitation(
                organization=org,
                email=f"inv-row-{i:05d}@{login_path}.test",
                role=roles[Role.Slug.MEMBER],
                token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                invited_by=owner,
                expires_at=now + timedelta(days=7),
                last_sent_at=now,
                send_count=1,
            )
            for i in range(rows)
        ],
        batch_size=BATCH,
    )
    GroupRoleMapping.objects.bulk_create(
        [
            GroupRoleMapping(
                organization=org,
                idp_group=f"map-row-{i:05d}",
                role=roles[ROLE_CYCLE[i % len(ROLE_CYCLE)]],
            )
            for i in range(rows)
        ],
        batch_size=BATCH,
    )
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                organization=org,
                actor=owner,
                action="user.provisioned",
                target=f"aud-row-{i:05d}@{login_path}.test",
                details={"by": "sso"},
            )
            for i in range(rows)
        ],
        batch_size=BATCH,
    )
    return org, owner


@dataclass(frozen=True)
class PageResult:
    page: str
    rows: int
    queries: int
    median_ms: float
    rows_shown: int
    last_page_queries: int
    last_page_ms: float
    last_page_rows_shown: int


def _timed_get(client: Client, url: str) -> tuple[int, float, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    # Read now: the next request outside a capture empties the query log.
    queries = len(captured)
    if response.status_code != 200:
        raise AssertionError(f"{url}: HTTP {response.status_code}")
    times = []
    for _ in range(TIMED_REPEATS):
        began = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - began) * 1000)
    return queries, median(times), response.content.decode()


def measure_console(site_url: str, org: Organization, owner: User, rows: int) -> list:
    """Queries, time and rows shown of each console page, first and last page."""
    client = Client(HTTP_HOST=_host(site_url))
    client.force_login(owner)
    last = max(1, -(-rows // PAGE_SIZE))
    results = []
    for name, pattern, marker in CONSOLE_PAGES:
        url = pattern.format(org=org.login_path)
        found = re.compile(re.escape(marker) + r"(\d{5})")
        queries, ms, html = _timed_get(client, url)
        last_queries, last_ms, last_html = _timed_get(client, f"{url}?page={last}")
        results.append(
            PageResult(
                page=name,
                rows=rows,
                queries=queries,
                median_ms=ms,
                rows_shown=len(set(found.findall(html))),
                last_page_queries=last_queries,
                last_page_ms=last_ms,
                last_page_rows_shown=len(set(found.findall(last_html))),
            )
        )
    return results


# ------------------------------------------------------------ checks at scale


@dataclass(frozen=True)
class ChecksResult:
    live_connections: int
    created: int
    passed: int
    failed: int
    unfinished: int
    total_s: float
    run_p50_ms: float
    run_p95_ms: float
    wait_p95_s: float
    failed_sample: str
    idp_counts: dict[str, int] = field(default_factory=dict)


def checks_progress(since) -> tuple[int, int]:
    """(periodic checks created since ``since``, of which finished)."""
    rows = ConnectionCheck.objects.filter(
        kind=ConnectionCheck.Kind.PERIODIC, created_at__gte=since
    )
    finished = rows.filter(
        status__in=(ConnectionCheck.Status.PASSED, ConnectionCheck.Status.FAILED)
    )
    return rows.count(), finished.count()


def checks_result(since, live: int) -> ChecksResult:
    """Summarise the periodic checks created since ``since``."""
    rows: list[Mapping[str, Any]] = list(
        ConnectionCheck.objects.filter(
            kind=ConnectionCheck.Kind.PERIODIC, created_at__gte=since
        ).values("status", "created_at", "started_at", "finished_at", "steps")
    )
    done = [r for r in rows if r["finished_at"] is not None]
    runs = [
        (r["finished_at"] - r["started_at"]).total_seconds() * 1000
        for r in done
        if r["started_at"]
    ]
    waits = [
        (r["started_at"] - r["created_at"]).total_seconds()
        for r in done
        if r["started_at"]
    ]
    failed = [r for r in rows if r["status"] == ConnectionCheck.Status.FAILED]
    sample = ""
    if failed:
        steps = [s for s in failed[0]["steps"] if s.get("status") == "failed"]
        sample = (steps[0].get("detail", "") if steps else "")[:200]
    last = max((r["finished_at"] for r in done), default=None)
    return ChecksResult(
        live_connections=live,
        created=len(rows),
        passed=sum(r["status"] == ConnectionCheck.Status.PASSED for r in rows),
        failed=len(failed),
        unfinished=len(rows) - len(done),
        total_s=(last - since).total_seconds() if last else 0.0,
        run_p50_ms=percentile(runs, 50),
        run_p95_ms=percentile(runs, 95),
        wait_p95_s=percentile(waits, 95),
        failed_sample=sample,
    )
