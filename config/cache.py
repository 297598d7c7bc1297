"""Django's Redis cache, with one Redis client per connection pool.

Django's client builds a new ``redis.Redis`` (and its table of reply
callbacks) for every cache call; a sign-in makes about a dozen, so that was
half the CPU of each call (``make bench``). A ``redis.Redis`` is safe to share
between threads: its connection pool hands each command its own connection.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            # Two threads may both build one here; either will do.
            client = self._clients[index] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
