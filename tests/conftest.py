import pytest

from tests.factories import PASSWORD, make_member, make_org

pytest_plugins = [
    "tests.fixtures.worker",
    "tests.fixtures.idp",
    "tests.fixtures.dns",
    "tests.fixtures.e2e",
    "tests.fixtures.postgres",
    "tests.fixtures.graph",
]


@pytest.fixture(autouse=True)
def _clear_cache(request):
    """State and JWKS caches must not leak between tests.

    Not around the browser journeys: with a Redis cache, the app under test
    keeps its sessions there, and the journeys run in order on one stack.
    """
    from django.core.cache import cache

    if "e2e_stack" in request.fixturenames:
        yield
        return
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _outbound_guard_reset():
    """Circuits and in-flight counts are per process: start each test closed."""
    from connections import outbound_guard

    outbound_guard.reset()
    yield
    outbound_guard.reset()


@pytest.fixture(autouse=True)
def _broker_pause_reset():
    """A test that made the broker refuse must not pause the next one's publishes."""
    from organizations.broker import broker_pause_reset

    broker_pause_reset()
    yield
    broker_pause_reset()


class _Broker:
    """What the ``broker_down`` fixture hands a test: ``back()`` brings the
    broker back; ``refused`` counts the publishes it refused."""

    def __init__(self):
        self.up = False
        self.refused = 0

    def back(self):
        from organizations.broker import broker_pause_reset

        self.up = True
        # As in the worker, which runs the flush: a process that saw no refusal.
        broker_pause_reset()


@pytest.fixture
def broker_down(monkeypatch):
    """Every publish fails the way a broker that refuses connections fails it
    (kombu's OperationalError, as a closed port gives) until ``.back()``; then
    tasks run in-process again. tests/test_frozen_broker.py does the same
    through the real Celery client against a closed and a frozen port."""
    from celery.app.task import Task
    from kombu.exceptions import OperationalError

    from organizations.broker import broker_pause_reset

    broker = _Broker()
    apply_async = Task.apply_async

    def publish(self, *args, **kwargs):
        if broker.up:
            return apply_async(self, *args, **kwargs)
        broker.refused += 1
        raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Refused.")

    monkeypatch.setattr(Task, "apply_async", publish)
    yield broker
    broker_pause_reset()


@pytest.fixture
def org(db):
    return make_org("acme", name="Acme Inc")


@pytest.fixture
def owner(org):
    return org.owner


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner, backend="accounts.backends.EmailPasswordBackend")
    return client


def client_for(client, membership):
    client.force_login(
        membership.user, backend="accounts.backends.EmailPasswordBackend"
    )
    return client


@pytest.fixture
def other_org(db):
    return make_org("globex", name="Globex")


@pytest.fixture
def member_factory():
    return make_member


@pytest.fixture
def password():
    return PASSWORD
