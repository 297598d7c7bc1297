import json
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from connections.oidc.errors import OIDCError
from connections.oidc.jwks import JWKSCache

from .fakes import FakeOutboundError, FakeResponse

JWKS_URI = "https://acme.okta.com/oauth2/default/v1/keys"


class FakeIdP:
    """A fetch that serves whatever ``answer`` currently is, counting requests."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[str] = []

    def __call__(self, url, *, method="GET", data=None, headers=None, auth=None):
        self.calls.append(url)
        if isinstance(self.answer, Exception):
            raise self.answer
        if isinstance(self.answer, FakeResponse):
            return self.answer
        return FakeResponse(200, json.dumps(self.answer).encode(), url)


class DictCache:
    """Django's cache API, with timeouts read from a test clock. Several
    JWKSCache objects sharing one DictCache are workers sharing Redis."""

    def __init__(self, clock: "Clock | None" = None) -> None:
        self.data: dict[str, Any] = {}
        self.expires: dict[str, float] = {}
        self.clock = clock or (lambda: 0.0)

    def _live(self, key) -> bool:
        if key in self.expires and self.clock() >= self.expires[key]:
            self.data.pop(key, None)
            self.expires.pop(key, None)
        return key in self.data

    def get(self, key, default=None):
        return self.data[key] if self._live(key) else default

    def set(self, key, value, timeout=None):
        self.data[key] = value
        if timeout is not None:
            self.expires[key] = self.clock() + timeout

    def add(self, key, value, timeout=None):
        if self._live(key):
            return False
        self.set(key, value, timeout)
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


_RSA_KEYS: dict[tuple[str, int], rsa.RSAPrivateKey] = {}


def rsa_key(name: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """One RSA key per name for the whole module: key generation is slow."""
    if (name, bits) not in _RSA_KEYS:
        _RSA_KEYS[name, bits] = rsa.generate_private_key(65537, bits)
    return _RSA_KEYS[name, bits]


@cache
def ec_key(name: str, curve: type[ec.EllipticCurve] = ec.SECP256R1):
    return ec.generate_private_key(curve())


def rsa_jwk(kid: str | None, *, bits: int = 2048, **extra: Any) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(rsa_key(kid or "nokid", bits).public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(extra)
    return jwk


def ec_jwk(kid: str, curve=ec.SECP256R1, **extra: Any) -> dict[str, Any]:
    jwk = ECAlgorithm.to_jwk(ec_key(kid, curve).public_key(), as_dict=True)
    jwk.update(kid=kid, **extra)
    return jwk


def jwks(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(keys)}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys_cache(clock) -> JWKSCache:
    return JWKSCache(DictCache(clock), ttl=3600, refetch_interval=30, clock=clock)


def test_keys_are_fetched_once_and_then_served_from_the_cache(keys_cache):
    idp = FakeIdP(jwks(rsa_jwk("a", use="sig", alg="RS256")))
    first = keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    again = keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    assert first.key.public_numbers() == rsa_key("a").public_key().public_numbers()
    assert again.key_id == "a"
    assert idp.calls == [JWKS_URI]


def test_each_jwks_uri_has_its_own_cache_entry(keys_cache):
    idp = FakeIdP(jwks(rsa_jwk("a")))
    keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    keys_cache.get_signing_key(idp, JWKS_URI + "?other", "a", "RS256")
    assert idp.calls == [JWKS_URI, JWKS_URI + "?other"]


def test_unknown_kid_refetches_once_and_finds_the_rotated_key(keys_cache, clock):
    idp = FakeIdP(jwks(rsa_jwk("old")))
    keys_cache.get_signing_key(idp, JWKS_URI, "old", "RS256")
    idp.answer = jwks(rsa_jwk("new"))  # the provider rotates its key
    clock.now += 3600 - 1  # still within the cache's TTL
    key = keys_cache.get_signing_key(idp, JWKS_URI, "new", "RS256")
    assert key.key_id == "new"
    assert len(idp.calls) == 2
    keys_cache.get_signing_key(idp, JWKS_URI, "new", "RS256")
    assert len(idp.calls) == 2


def test_each_unknown_kid_reloads_once_per_window_and_at_most_three_in_all(
    keys_cache, clock
):
    idp = FakeIdP(jwks(rsa_jwk("a")))
    keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    clock.now += 120
    for kid in ["random-1", "random-2", "random-1", "random-3", "random-4"]:
        clock.now += 1
        with pytest.raises(OIDCError) as caught:
            keys_cache.get_signing_key(idp, JWKS_URI, kid, "RS256")
        assert caught.value.step == "kid"
    # The first load, then one reload for each of random-1, -2 and -3; the
    # repeated random-1 and a fourth made-up kid within the window reload nothing.
    assert len(idp.calls) == 4
    assert "3 times in the last 30 seconds" in str(caught.value)
    clock.now += 30
    with pytest.raises(OIDCError):
        keys_cache.get_signing_key(idp, JWKS_URI, "random-5", "RS256")
    assert len(idp.calls) == 5  # the window has passed


def test_a_key_rotated_in_right_after_the_first_load_is_found(keys_cache, clock):
    # The first load must not start the refetch interval (issue 15, item 8).
    idp = FakeIdP(jwks(rsa_jwk("old")))
    keys_cache.get_signing_key(idp, JWKS_URI, "old", "RS256")
    idp.answer = jwks(rsa_jwk("old"), rsa_jwk("new"))
    clock.now += 2
    assert keys_cache.get_signing_key(idp, JWKS_URI, "new", "RS256").key_id == "new"
    assert len(idp.calls) == 2


def test_a_reload_by_another_worker_serves_this_one_without_a_second_fetch(clock):
    shared = DictCache(clock)  # Redis, shared by two workers
    worker_a = JWKSCache(shared, refetch_interval=30, clock=clock)
    worker_b = JWKSCache(shared, refetch_interval=30, clock=clock)
    idp = FakeIdP(jwks(rsa_jwk("old")))
    worker_a.get_signing_key(idp, JWKS_URI, "old", "RS256")
    idp.answer = jwks(rsa_jwk("new"))
    clock.now += 5
    assert worker_a.get_signing_key(idp, JWKS_URI, "new", "RS256").key_id == "new"
    assert worker_b.get_signing_key(idp, JWKS_URI, "new", "RS256").key_id == "new"
    assert len(idp.calls) == 2


def test_the_message_says_whether_the_keys_were_reloaded_or_reloaded_moments_ago(
    keys_cache, clock
):
    idp = FakeIdP(jwks(rsa_jwk("a")))
    keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    clock.now += 5
    with pytest.raises(OIDCError) as first:
        keys_cache.get_signing_key(idp, JWKS_URI, "gone", "RS256")
    assert "even after reloading it just now" in str(first.value)
    with pytest.raises(OIDCError) as again:
        keys_cache.get_signing_key(idp, JWKS_URI, "gone", "RS256")
    assert "reloaded for this key id less than 30 seconds ago" in str(again.value)
    assert len(idp.calls) == 2


def test_a_failed_refetch_keeps_the_cached_keys(keys_cache, clock):
    idp = FakeIdP(jwks(rsa_jwk("a")))
    keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    idp.answer = FakeOutboundError("timeout", "The provider did not answer.")
    clock.now += 60
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "b", "RS256")
    assert caught.value.step == "jwks"
    assert keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256").key_id == "a"


def test_a_token_without_kid_uses_the_only_signing_key(keys_cache):
    idp = FakeIdP(
        jwks(
            rsa_jwk("sig"),
            rsa_jwk("enc", use="enc"),
            ec_jwk("ec"),
        )
    )
    assert keys_cache.get_signing_key(idp, JWKS_URI, None, "RS256").key_id == "sig"


def test_a_token_without_kid_is_refused_when_several_keys_could_sign(keys_cache):
    idp = FakeIdP(jwks(rsa_jwk("a"), rsa_jwk("b")))
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, None, "RS256")
    assert caught.value.step == "kid"


def test_a_token_without_kid_is_refused_when_no_key_fits_the_alg(keys_cache):
    idp = FakeIdP(jwks(ec_jwk("ec")))
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, None, "RS256")
    assert caught.value.step == "kid"


def test_a_key_without_kid_is_found_by_a_token_without_kid(keys_cache):
    idp = FakeIdP(jwks(rsa_jwk(None)))
    assert keys_cache.get_signing_key(idp, JWKS_URI, None, "RS256").key_id is None


@pytest.mark.parametrize(
    ("extra", "alg"),
    [
        ({"use": "enc"}, "RS256"),
        ({"use": "other"}, "RS256"),
        ({"key_ops": ["encrypt"]}, "RS256"),
        ({"key_ops": "verify"}, "RS256"),
        ({"alg": "RS512"}, "RS256"),
        ({}, "ES256"),
        ({}, "EdDSA"),
    ],
)
def test_keys_not_meant_for_the_tokens_alg_are_never_used(keys_cache, extra, alg):
    idp = FakeIdP(jwks(rsa_jwk("a", **extra)))
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "a", alg)
    assert caught.value.step == "kid"
    assert "cannot verify" in str(caught.value)


def test_an_rsa_key_without_alg_serves_both_rsa_signature_schemes(keys_cache):
    idp = FakeIdP(jwks(rsa_jwk("a")))
    assert keys_cache.get_signing_key(idp, JWKS_URI, "a", "PS256").key_id == "a"
    assert keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS512").key_id == "a"


def test_elliptic_curve_keys_must_be_on_the_algs_curve(keys_cache):
    idp = FakeIdP(jwks(ec_jwk("p256"), ec_jwk("p384", ec.SECP384R1)))
    assert keys_cache.get_signing_key(idp, JWKS_URI, "p256", "ES256").key_id == "p256"
    assert keys_cache.get_signing_key(idp, JWKS_URI, "p384", "ES384").key_id == "p384"
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "p384", "ES256")
    assert caught.value.step == "kid"


def test_ed25519_keys_serve_eddsa(keys_cache):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    jwk = OKPAlgorithm.to_jwk(public, as_dict=True) | {"kid": "ed"}
    idp = FakeIdP(jwks(jwk))
    assert keys_cache.get_signing_key(idp, JWKS_URI, "ed", "EdDSA").key_id == "ed"


def test_symmetric_keys_in_a_key_set_are_never_used(keys_cache):
    idp = FakeIdP(jwks({"kty": "oct", "kid": "s", "k": "c2VjcmV0LXNlY3JldA"}))
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "s", "HS256")
    assert caught.value.step == "alg"
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "s", "RS256")
    assert caught.value.step == "kid"


def test_a_published_private_key_is_not_used(keys_cache):
    private = RSAAlgorithm.to_jwk(rsa_key("a"), as_dict=True) | {"kid": "a"}
    idp = FakeIdP(jwks(private))
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    assert caught.value.step == "kid"


def test_rsa_keys_shorter_than_2048_bits_are_not_used(keys_cache):
    idp = FakeIdP(jwks(rsa_jwk("short", bits=1024)))
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "short", "RS256")
    assert caught.value.step == "kid"


def test_a_malformed_key_is_skipped_and_the_others_still_work(keys_cache):
    broken = {"kty": "RSA", "kid": "broken", "n": "!!", "e": 65537}
    idp = FakeIdP(jwks(broken, rsa_jwk("a")))
    assert keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256").key_id == "a"
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "broken", "RS256")
    assert caught.value.step == "kid"


def test_two_signing_keys_with_the_same_kid_are_refused(keys_cache):
    first = rsa_jwk("a")
    second = RSAAlgorithm.to_jwk(rsa_key("b").public_key(), as_dict=True)
    idp = FakeIdP(jwks(first, second | {"kid": "a"}))
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    assert caught.value.step == "kid"


@pytest.mark.parametrize(
    "document",
    [
        ["not", "an", "object"],
        {"no_keys": []},
        {"keys": {"kty": "RSA"}},
        {"keys": []},
        {"keys": ["RSA"]},
        {"keys": [{"kid": "a"}]},
        {"keys": [{"kty": "RSA", "kid": 7}]},
        {"keys": [{"kty": "RSA", "use": ["sig"]}]},
    ],
)
def test_a_malformed_key_set_is_reported_as_such(keys_cache, document):
    idp = FakeIdP(document)
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    assert caught.value.step == "jwks"
    assert JWKS_URI in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        FakeResponse(500, b"oops", JWKS_URI),
        FakeResponse(200, b"{not json", JWKS_URI),
        FakeOutboundError("connection", "Could not connect to the provider."),
    ],
)
def test_fetch_failures_are_reported_as_jwks_errors(keys_cache, answer):
    with pytest.raises(OIDCError) as caught:
        keys_cache.get_signing_key(FakeIdP(answer), JWKS_URI, "a", "RS256")
    assert caught.value.step == "jwks"


def test_symmetric_and_none_algs_are_refused_before_any_fetch(keys_cache):
    idp = FakeIdP(jwks(rsa_jwk("a")))
    for alg in ("none", "HS256", "ES256K"):
        with pytest.raises(OIDCError) as caught:
            keys_cache.get_signing_key(idp, JWKS_URI, "a", alg)
        assert caught.value.step == "alg"
    assert idp.calls == []


def test_resolver_binds_fetch_and_jwks_uri(keys_cache):
    idp = FakeIdP(jwks(rsa_jwk("a")))
    resolve = keys_cache.resolver(idp, JWKS_URI)
    assert resolve("a", "RS256").key_id == "a"
    assert idp.calls == [JWKS_URI]


def test_cached_keys_expire_with_the_cache_entry(clock):
    store = DictCache()
    keys_cache = JWKSCache(store, clock=clock)
    idp = FakeIdP(jwks(rsa_jwk("a")))
    keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    store.data.clear()  # what the real cache does when the TTL has passed
    keys_cache.get_signing_key(idp, JWKS_URI, "a", "RS256")
    assert len(idp.calls) == 2
