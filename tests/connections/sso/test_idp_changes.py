"""An IdP that changes (moves its key set, rotates keys) is followed at once
(issue 16, item 5): no restart, no hour-long wait for a cache to expire."""

from __future__ import annotations

import pytest
from django.test import Client

from connections.oidc.discovery import (
    MAX_CACHE_SECONDS,
    MIN_CACHE_SECONDS,
    cache_ttl,
    fetch_metadata,
)

from .fakeidp import rsa_key
from .helpers import callback, signed_in_user_id, start_login

pytestmark = pytest.mark.django_db

DISCOVERY = "/.well-known/openid-configuration"


def _sign_in(fake, **sign):
    client = Client()
    request = start_login(client)
    fake.next_id_token = fake.sign(fake.claims(request["nonce"]), **sign)
    response = callback(client, fake.issuer, request["state"])
    return client, response


def test_a_key_set_moved_to_a_new_url_is_found_through_a_fresh_discovery(
    acme, acme_connection, fake_idp
):
    client, _ = _sign_in(fake_idp)
    assert signed_in_user_id(client) is not None  # discovery and keys cached
    fake_idp.requests.clear()

    # The IdP moves its key set and signs with a new key; the old URL is gone.
    moved = rsa_key("moved")
    fake_idp.jwks_path = "/oauth2/v2/keys"
    fake_idp.jwks_keys = [fake_idp.public_jwk(moved, "moved-1", "RS256")]
    client, response = _sign_in(fake_idp, key=moved, kid="moved-1")

    assert response.status_code == 302, response.content.decode()[:2000]
    assert signed_in_user_id(client) is not None
    assert fake_idp.count(DISCOVERY) == 1
    assert fake_idp.count("/oauth2/v2/keys") == 1
    # And the next sign-in uses the new location from the cache.
    fake_idp.requests.clear()
    client, _ = _sign_in(fake_idp, key=moved, kid="moved-1")
    assert signed_in_user_id(client) is not None
    assert fake_idp.count(DISCOVERY) == 0


def test_discovery_is_fetched_anew_at_most_once_a_minute_for_unknown_keys(
    acme, acme_connection, fake_idp
):
    _sign_in(fake_idp)
    fake_idp.requests.clear()
    stranger = rsa_key("stranger")
    for _ in range(3):
        client, response = _sign_in(fake_idp, key=stranger, kid="not-published")
        assert response.status_code == 400
    assert fake_idp.count(DISCOVERY) == 1


@pytest.mark.parametrize(
    ("header", "ttl"),
    [
        (None, 3600),
        ("max-age=300", 300),
        ("public, max-age=7200, must-revalidate", 7200),
        ('max-age="600"', 600),
        ("max-age=5", MIN_CACHE_SECONDS),
        ("max-age=31536000", MAX_CACHE_SECONDS),
        ("no-store", MIN_CACHE_SECONDS),
        ("no-cache, max-age=900", MIN_CACHE_SECONDS),
        ("max-age=-1", 3600),
        ("max-age=soon", 3600),
    ],
)
def test_cache_control_sets_how_long_documents_are_kept_within_bounds(header, ttl):
    assert cache_ttl(header, 3600) == ttl


class _Answer:
    status = 200

    def __init__(self, doc, headers):
        self._doc, self.headers = doc, headers

    def json(self):
        return self._doc


class _RecordingCache(dict):
    def set(self, key, value, timeout=None):
        self[key] = (value, timeout)

    def add(self, key, value, timeout=None):
        return self.setdefault(key, (value, timeout)) == (value, timeout)


def test_the_discovery_documents_cache_control_is_honoured(fake_idp):
    doc = fake_idp.metadata

    def fetch(url, **kwargs):
        return _Answer(doc, {"Cache-Control": "max-age=120"})

    cache = _RecordingCache()
    fetch_metadata(fetch, fake_idp.issuer, cache=cache, allow_insecure=True)
    ((_, timeout),) = cache.values()
    assert timeout == 120


def test_a_passing_check_makes_the_next_sign_in_read_the_current_discovery(
    acme, acme_connection, fake_idp, django_capture_on_commit_callbacks
):
    from connections.services.checks import connection_check_start
    from rolemapping.models import Membership

    _sign_in(fake_idp)
    fake_idp.requests.clear()
    owner = Membership.objects.select_related("role", "organization", "user").get(
        organization=acme, user=acme.owner
    )
    with django_capture_on_commit_callbacks(execute=True):
        check = connection_check_start(
            actor_membership=owner, connection=acme_connection
        )
    check.refresh_from_db()
    assert check.status == "passed", check.steps
    fake_idp.requests.clear()
    client, _ = _sign_in(fake_idp)
    assert signed_in_user_id(client) is not None
    assert fake_idp.count(DISCOVERY) == 1


def test_a_failing_discovery_document_is_not_fetched_for_every_anonymous_start(
    acme, acme_connection, fake_idp
):
    # From a security review: each anonymous GET /sso/login/<org>/ made one
    # request to an IdP whose discovery document was failing.
    fake_idp.metadata_changes = {"issuer": fake_idp.issuer + "/moved"}
    for _ in range(40):
        response = Client().get("/sso/login/acme/")
        assert response.status_code == 400
    assert fake_idp.count(DISCOVERY) == 1
