"""config.sessions: Django's cache sessions with fewer round trips, same rules."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends import cache as django_cache_sessions
from django.contrib.sessions.backends.base import UpdateError
from django.core.cache import cache

from config import sessions
from config.sessions import SessionStore


class CountingCache:
    """The test cache, counting the calls a session store makes."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        def counted(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted

    def __contains__(self, key):
        self.calls.append("has_key")
        return key in self.inner


@pytest.fixture
def counted(monkeypatch, settings):
    counting = CountingCache(cache)
    monkeypatch.setattr(
        django_cache_sessions, "caches", {settings.SESSION_CACHE_ALIAS: counting}
    )
    return counting


def test_a_new_session_is_one_add_and_its_save_one_set(counted):
    store = SessionStore()
    store["flow"] = "x"
    store.save()  # the start of a sign-in: a new session
    assert counted.calls == ["add"]

    store["more"] = "y"
    store.save()  # saved again in the same request
    assert counted.calls == ["add", "set"]
    assert SessionStore(store.session_key).load() == {"flow": "x", "more": "y"}


def test_a_new_key_at_sign_in_is_one_add_the_old_one_deleted(counted):
    old = SessionStore()
    old["flow"] = "x"
    old.create()
    loaded = SessionStore(old.session_key)
    assert loaded.get("flow") == "x"  # read, as the callback reads its flow
    counted.calls.clear()

    loaded.cycle_key()
    loaded.save()

    assert counted.calls == ["add", "delete", "set"]
    assert loaded.session_key != old.session_key
    assert not SessionStore(old.session_key).exists(old.session_key)
    assert SessionStore(loaded.session_key).load() == {"flow": "x"}


def test_a_taken_key_is_never_reused(monkeypatch):
    taken = SessionStore()
    taken["owner"] = "someone else"
    taken.create()
    keys = iter([taken.session_key, "b" * 32])
    monkeypatch.setattr(sessions, "get_random_string", lambda *a: next(keys))

    mine = SessionStore()
    mine["owner"] = "me"
    mine.create()

    assert mine.session_key == "b" * 32
    assert SessionStore(taken.session_key).load() == {"owner": "someone else"}


def test_a_loaded_session_deleted_meanwhile_is_not_saved_back():
    # Django's rule, kept for sessions this request did not create.
    store = SessionStore()
    store["x"] = 1
    store.create()
    loaded = SessionStore(store.session_key)
    assert loaded.get("x") == 1
    store.delete()

    loaded["x"] = 2
    with pytest.raises(UpdateError):
        loaded.save()
    assert not loaded.exists(store.session_key)
