"""Django's cache sessions, without two Redis round trips they do not need.

* A new key is claimed with the cache's atomic ``add`` alone. Django first
  asks whether the random key exists, which ``add`` answers anyway: a taken
  key fails it and Django's ``create`` draws another.
* A session created in this request is saved without reading it back first.
  Django reads to avoid saving a session someone else deleted meanwhile; no
  one else can know a key drawn in this request.

A sign-in creates two sessions (the start's, and the callback's new key), so
this spares it three round trips (``make bench``).
"""

from __future__ import annotations

from django.contrib.sessions.backends import cache
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.utils.crypto import get_random_string


class SessionStore(cache.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._created_here = False

    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)

    def create(self) -> None:
        super().create()
        self._created_here = True

    def save(self, must_create: bool = False) -> None:
        if self._created_here and not must_create and self.session_key is not None:
            self._cache.set(
                self.cache_key, self._get_session(no_load=False), self.get_expiry_age()
            )
            return
        super().save(must_create=must_create)
