"""Per-test settings that work with and without Django configured, for the
pure modules' tests (they also run with `-p no:django`)."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured


def settings_setter(
    monkeypatch: pytest.MonkeyPatch, module: types.ModuleType
) -> Iterator[Callable[..., None]]:
    """Yield a function that sets settings for one test: Django's override when
    configured, else a stand-in for ``module.settings``; undone afterwards."""
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 -- raises when not configured
    except ImproperlyConfigured:
        stand_in = types.SimpleNamespace()
        monkeypatch.setattr(module, "settings", stand_in)
        yield lambda **values: vars(stand_in).update(values)
        return
    from django.test import override_settings

    overrides: list[override_settings] = []

    def apply(**values: Any) -> None:
        override = override_settings(**values)
        override.enable()
        overrides.append(override)

    yield apply
    for override in reversed(overrides):
        override.disable()
