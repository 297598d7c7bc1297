"""Fixtures of the accounts tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs what the code inside queues on commit (the
    emails), as the real commit at the end of a request would."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run
