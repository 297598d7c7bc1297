"""Failed-sign-in throttling per account and per address, in the shared cache."""

import hashlib

from django.conf import settings
from django.core.cache import cache

# An address may fail this many times more than one account before it is held.
ADDRESS_FACTOR = 4


def _keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    limit = settings.LOGIN_THROTTLE_LIMIT
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    keys = [(f"login-fail:acct:{account}", limit)]
    if ip:
        keys.append((f"login-fail:ip:{ip}", limit * ADDRESS_FACTOR))
    return keys


def login_throttled(email: str, ip: str | None) -> bool:
    return any(cache.get(key, 0) >= limit for key, limit in _keys(email, ip))


def login_failed(email: str, ip: str | None) -> None:
    for key, _limit in _keys(email, ip):
        if cache.add(key, 1, settings.LOGIN_THROTTLE_WINDOW):
            continue
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.LOGIN_THROTTLE_WINDOW)


def login_succeeded(email: str) -> None:
    cache.delete(_keys(email, None)[0][0])
