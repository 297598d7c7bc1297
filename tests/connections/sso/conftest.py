"""Fixtures of the SSO tests: fake IdPs and an organization set up for SSO."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fakeidp import FakeIdP
from .helpers import make_connection, set_default_role, verify_domain


@pytest.fixture
def fake_idp() -> Iterator[FakeIdP]:
    fake = FakeIdP()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def other_fake_idp() -> Iterator[FakeIdP]:
    fake = FakeIdP()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def acme(org):
    """Acme (login path 'acme') with acme.test verified and 'member' as default."""
    verify_domain(org, "acme.test")
    set_default_role(org, "member")
    return org


@pytest.fixture
def acme_connection(acme, fake_idp):
    """Acme's live connection to the fake IdP."""
    return make_connection(acme, issuer=fake_idp.issuer)
