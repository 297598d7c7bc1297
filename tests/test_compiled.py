"""CompiledRead: Django's rows for each call's values, from SQL compiled once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.db.models import Q
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from connections.compiled import CompiledRead
from connections.models import Organization
from rolemapping.models import Membership, Role
from tests.factories import make_member, make_org, make_user

pytestmark = pytest.mark.django_db


def _memberships() -> CompiledRead[Membership]:
    return CompiledRead(
        lambda user_id: (
            Membership.objects.filter(user_id=user_id, is_active=True)
            .select_related("organization", "role")
            .order_by("organization__name", "organization_id")
        )
    )


def test_a_compiled_read_returns_what_the_queryset_returns(
    django_assert_num_queries,
):
    user = make_user()
    for name in ("Beta", "Alpha", "Gamma"):
        make_member(make_org(name=name), role="admin", user=user)
    make_member(make_org(name="Gone"), user=user, is_active=False)
    read = _memberships()
    expected = list(
        Membership.objects.filter(user=user, is_active=True)
        .select_related("organization", "role")
        .order_by("organization__name", "organization_id")
    )

    with django_assert_num_queries(1):
        rows = read.all(user_id=user.pk)
        # The related rows came with it.
        seen = [(m.pk, m.organization.name, m.role.slug) for m in rows]

    assert seen == [(m.pk, m.organization.name, m.role.slug) for m in expected]
    assert [m.organization.name for m in rows] == ["Alpha", "Beta", "Gamma"]


def test_each_call_binds_its_own_values():
    ann, bob = make_user(), make_user()
    make_member(make_org(name="Ann's"), user=ann)
    make_member(make_org(name="Bob's"), user=bob)
    read = _memberships()

    for user, org in ((ann, "Ann's"), (bob, "Bob's"), (ann, "Ann's")):
        assert [m.organization.name for m in read.all(user_id=user.pk)] == [org]
    assert read.all(user_id=10**9) == []


def test_the_sql_is_compiled_once(monkeypatch):
    user = make_user()
    make_member(make_org(), user=user)
    compiled = []
    real_as_sql = SQLCompiler.as_sql

    def counting_as_sql(self, *args, **kwargs):
        compiled.append(self.query.model)
        return real_as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting_as_sql)
    read = _memberships()

    assert len(read.all(user_id=user.pk)) == 1
    assert compiled == [Membership, Membership]  # twice, with two sets of markers
    compiled.clear()
    for _ in range(3):
        assert len(read.all(user_id=user.pk)) == 1

    assert compiled == []


def test_values_lists_and_first_work_too():
    org = make_org(login_path="acme")
    read = CompiledRead(
        lambda login_path: Organization.objects.filter(
            login_path=login_path
        ).values_list("pk", "name")
    )

    assert read.first(login_path="acme") == (org.pk, org.name)
    assert read.first(login_path="nobody") is None


def test_two_arguments_of_one_type_are_each_bound_in_their_place():
    ann, bob = make_user(), make_user()
    ann_org, bob_org = make_org(), make_org()
    make_member(ann_org, user=ann)
    make_member(bob_org, user=bob)
    read = CompiledRead(
        lambda organization_id, user_id: Membership.objects.filter(
            organization_id=organization_id, user_id=user_id
        )
    )

    assert read.first(organization_id=ann_org.pk, user_id=bob.pk) is None
    assert read.first(organization_id=bob_org.pk, user_id=ann.pk) is None
    assert read.first(organization_id=bob_org.pk, user_id=bob.pk).user == bob
    assert read.first(organization_id=ann_org.pk, user_id=ann.pk).user == ann


@pytest.mark.parametrize(
    "build",
    [
        # The argument becomes part of a pattern, not the value itself.
        lambda name: Organization.objects.filter(name__icontains=name),
        # ... also when it is a plain value elsewhere in the same query.
        lambda name: Organization.objects.filter(
            Q(login_path=name) | Q(name__icontains=name)
        ),
        # The argument is not used at all.
        lambda name: Organization.objects.all(),
    ],
    ids=["pattern", "pattern-and-value", "unused"],
)
def test_a_string_argument_that_is_not_a_plain_value_is_refused(build):
    with pytest.raises(ValueError, match="does not reach the SQL"):
        CompiledRead(build).all(name="acme")


@pytest.mark.parametrize(
    "build",
    [
        # The SQL would depend on the value: kept for one, wrong for others.
        lambda pk: Organization.objects.filter(pk=pk, name="x" if pk > 0 else "y"),
        lambda pk: Organization.objects.filter(pk=pk + 1),
    ],
    ids=["branch", "arithmetic"],
)
def test_an_int_argument_that_is_not_a_plain_value_is_refused(build):
    with pytest.raises(ValueError, match="does not reach the SQL"):
        CompiledRead(build).all(pk=1)


def test_an_int_compared_with_a_narrow_field_is_refused():
    read = CompiledRead(lambda rank: Role.objects.filter(rank=rank))
    with pytest.raises(ValueError, match="narrower than 64 bits"):
        read.all(rank=1)


def test_an_int_outside_django_s_range_finds_nothing():
    org = make_org()
    read = CompiledRead(lambda pk: Organization.objects.filter(pk=pk))
    assert read.all(pk=org.pk) == [org]
    assert read.all(pk=2**70) == []


def test_arguments_of_another_type_or_name_are_refused():
    read = CompiledRead(lambda pk: Organization.objects.filter(pk=pk))
    read.all(pk=1)

    for arguments in ({"pk": "1"}, {"pk": True}, {"id": 1}, {"pk": 1, "name": "x"}):
        with pytest.raises(TypeError):
            read.all(**arguments)
    with pytest.raises(TypeError):
        CompiledRead(lambda pk: Organization.objects.filter(pk=pk)).all(pk=1.0)


@pytest.mark.django_db(transaction=True)  # outside a transaction between blocks
def test_a_locking_read_locks_and_needs_a_transaction():
    user = make_user()
    org = make_org()
    make_member(org, user=user)
    read = CompiledRead(
        lambda user_id: Membership.objects.select_for_update().filter(user_id=user_id)
    )
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert len(read.all(user_id=user.pk)) == 1
    if not connection.features.has_select_for_update:
        return  # SQLite: Django ignores the lock, and so does the read
    assert "FOR UPDATE" in queries.captured_queries[-1]["sql"]
    with pytest.raises(TransactionManagementError):
        read.all(user_id=user.pk)


@pytest.mark.django_db(transaction=True)
def test_a_read_runs_on_the_calling_threads_connection():
    user = make_user()
    make_member(make_org(name="Threaded"), user=user)
    read = _memberships()
    read.all(user_id=user.pk)  # compiled on this thread's connection
    seen: dict[str, object] = {}

    def other_thread() -> None:
        try:
            with CaptureQueriesContext(connections["default"]) as queries:
                seen["names"] = [m.organization.name for m in read.all(user_id=user.pk)]
            seen["queries"] = len(queries.captured_queries)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(timeout=30)

    assert seen == {"names": ["Threaded"], "queries": 1}
