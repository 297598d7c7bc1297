"""Organizations never see each other: generated from the URL configuration, so
every console page added later is covered without editing this file."""

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from connections.models import (
    Connection,
    ConnectionCheck,
    ConnectionConfig,
    SigningKey,
)
from directory.models import ScimToken
from domains.models import Domain
from invitations.models import Invitation
from organizations.crypto import encrypt_secret
from rolemapping.models import GroupRoleMapping, Role
from setuplinks.models import SetupLink
from tests.factories import make_member, make_org


def org_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from org_patterns(entry, route)
        elif isinstance(entry, URLPattern) and "<str:org>" in route:
            # The SCIM endpoint takes a bearer token, not a session: its
            # tenant isolation is tests/directory/test_tokens_and_safety.py's.
            if not route.startswith("scim/"):
                yield route, entry


ORG_PATTERNS = sorted(org_patterns(), key=lambda pair: pair[0])


def test_every_org_url_has_a_name():
    unnamed = [route for route, entry in ORG_PATTERNS if not entry.name]
    assert not unnamed, f"Name these URLs so they can be tested: {unnamed}"
    assert len(ORG_PATTERNS) >= 3


@pytest.fixture
def globex_objects(db):
    """One of every kind of object, owned by the other organization."""
    globex = make_org("globex", name="Globex")
    member = make_member(globex, "member")
    domain = Domain.objects.create(organization=globex, name="globex.test", token="t")
    connection = Connection.objects.create(organization=globex, name="Okta")
    config = ConnectionConfig.objects.create(
        connection=connection,
        issuer_url="https://globex.okta.test",
        client_id="cid",
        client_secret_encrypted=encrypt_secret("globex-secret"),
    )
    Connection.objects.filter(pk=connection.pk).update(draft=config)
    check = ConnectionCheck.objects.create(
        connection=connection, config=config, fingerprint=config.fingerprint
    )
    key = SigningKey.objects.create(
        connection=connection,
        kid="globex-key",
        alg="RS256",
        public_jwk={"kty": "RSA", "kid": "globex-key", "n": "AQAB", "e": "AQAB"},
        state=SigningKey.State.PUBLISHED,
    )
    role = Role.objects.get(organization=globex, slug="member")
    invitation = Invitation.objects.create(
        organization=globex,
        email="new@globex.test",
        role=role,
        token_hash="0" * 64,
        expires_at=timezone.now() + timedelta(days=7),
    )
    mapping = GroupRoleMapping.objects.create(
        organization=globex, idp_group="Everyone", role=role
    )
    link = SetupLink.objects.create(
        organization=globex,
        email="it@globex.test",
        token_hash="1" * 64,
        expires_at=timezone.now() + timedelta(days=7),
    )
    token = ScimToken.objects.create(
        organization=globex, name="Okta", prefix="scim_x", token_hash="2" * 64
    )
    return {
        "org": "globex",
        "link_id": link.pk,
        "token_id": token.pk,
        "member_id": member.pk,
        "domain_id": domain.pk,
        "connection_id": connection.pk,
        "check_id": check.pk,
        "kid": key.kid,
        "invitation_id": invitation.pk,
        "mapping_id": mapping.pk,
    }


def url_for(entry, objects, org):
    params = list(entry.pattern.converters)
    missing = [p for p in params if p not in objects]
    assert not missing, (
        f"{entry.name}: add a {missing} object to globex_objects in this test"
    )
    return reverse(entry.name, kwargs={p: objects[p] for p in params} | {"org": org})


@pytest.mark.parametrize(
    "entry", [e for _, e in ORG_PATTERNS], ids=[r for r, _ in ORG_PATTERNS]
)
def test_another_orgs_pages_are_404_for_a_signed_in_owner(
    client, org, globex_objects, entry
):
    client.force_login(org.owner)
    url = url_for(entry, globex_objects, "globex")
    for method in ("get", "post"):
        for accept in ("text/html", "application/json"):
            response = getattr(client, method)(url, HTTP_ACCEPT=accept)
            assert response.status_code in (404, 405), (method, accept, url)
            assert b"globex" not in response.content.lower() or method == "post"


@pytest.mark.parametrize(
    "entry",
    [e for _, e in ORG_PATTERNS if set(e.pattern.converters) - {"org"}],
    ids=[r for r, e in ORG_PATTERNS if set(e.pattern.converters) - {"org"}],
)
def test_another_orgs_object_ids_are_404_under_my_own_org(
    client, org, globex_objects, entry
):
    client.force_login(org.owner)
    url = url_for(entry, globex_objects, "acme")
    for method in ("get", "post"):
        response = getattr(client, method)(url, HTTP_ACCEPT="text/html")
        assert response.status_code in (404, 405), (method, url)
