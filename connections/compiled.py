"""Reads whose SQL Django compiles once per process, for the sign-in's hot path.

Django turns a QuerySet into SQL anew every time it is evaluated. For the joined
reads of a sign-in that costs more CPU than running them: about 0.8 ms for a
three-table read, and with them a sixth of a warm sign-in's CPU (``make
bench``). A :class:`CompiledRead` compiles its QuerySet once, with marker values
in place of the arguments, and afterwards binds each call's values to the same
SQL. Django still runs the query and builds the rows (model instances, related
ones included) with its own code, from the compiler's description of the
columns that the first compilation left.

It refuses, when the SQL is first compiled, a build it cannot serve exactly:
the build is compiled twice, with two sets of markers, and every argument must
reach the SQL as a plain bound parameter in the same places, everything else
staying the same. Arguments are ints or strings, of the types of the first
call; the SQL is kept per database vendor. A locking read refuses to run
outside a transaction, as Django's own does. Only the default database is used.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.transaction import TransactionManagementError

Row = TypeVar("Row")

_marker_numbers = itertools.count(1)
_STRING_MARKER = "compiled-read-marker-"
# Django's widest integer field; Django answers a value outside it with no rows.
_INT_RANGE = range(-(2**63), 2**63)


def _markers(arguments: dict[str, Any], sign: int) -> dict[str, int | str]:
    """Values of the arguments' types that no real call passes."""
    markers: dict[str, int | str] = {}
    for name, value in arguments.items():
        number = next(_marker_numbers)
        if type(value) is int:
            markers[name] = sign * (2**62 + number)
        elif type(value) is str:
            markers[name] = f"{_STRING_MARKER}{number}"
        else:
            raise TypeError(
                f"CompiledRead arguments are ints or strings; {name!r} is "
                f"{type(value)}."
            )
    return markers


@dataclass(frozen=True)
class _Compiled:
    queryset: QuerySet[Any]
    compiler: Any  # Django's SQLCompiler after as_sql(): it describes the columns
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (parameter index, argument name)
    types: dict[str, type]
    locks: bool


class CompiledRead(Generic[Row]):
    """``build(**arguments)`` returns a QuerySet; :meth:`all` its rows.

    ``build`` may use its arguments only as filter values compared for equality,
    so that one SQL text serves every call; anything else is refused the first
    time the read runs.
    """

    def __init__(self, build: Callable[..., QuerySet[Any]]) -> None:
        self._build = build
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def all(self, **arguments: Any) -> list[Row]:
        connection = connections[DEFAULT_DB_ALIAS]
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            compiled = self._compile(connection, arguments)
        if arguments.keys() != compiled.types.keys() or any(
            type(value) is not compiled.types[name] for name, value in arguments.items()
        ):
            raise TypeError(f"CompiledRead takes {compiled.types}, not {arguments!r}.")
        if any(type(v) is int and v not in _INT_RANGE for v in arguments.values()):
            return []  # as Django answers it
        if compiled.locks and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(compiled.params)
        for index, name in compiled.slots:
            params[index] = arguments[name]
        bound = (compiled.sql, tuple(params))
        # A copy for this call, on this thread's connection, that answers with
        # the kept SQL instead of compiling it again.
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connection
        compiler.as_sql = lambda *args, **kwargs: bound
        queryset = compiled.queryset._chain()
        queryset.query.get_compiler = lambda *args, **kwargs: compiler
        return list(queryset)

    def first(self, **arguments: Any) -> Row | None:
        """The first row, or None; for unique look-ups and sliced QuerySets."""
        rows = self.all(**arguments)
        return rows[0] if rows else None

    def _compile(self, connection: Any, arguments: dict[str, Any]) -> _Compiled:
        # Compiled twice, with markers of opposite signs: a build that uses an
        # argument as anything but a plain filter value (in a pattern, a branch,
        # arithmetic) gives two different texts or parameters, and is refused.
        markers, other_markers = _markers(arguments, -1), _markers(arguments, 1)
        queryset, compiler, sql, params = self._sql(connection, markers)
        *_, other_sql, other_params = self._sql(connection, other_markers)
        slots = _slots(params, markers)
        fixed = _without(params, slots)
        if (
            {name for _index, name in slots} != set(markers)
            or other_sql != sql
            or _slots(other_params, other_markers) != slots
            or _without(other_params, slots) != fixed
            or any(_shows_marker(str(value)) for value in fixed)
            or _shows_marker(sql)
            or any(str(m) in sql for m in [*markers.values(), *other_markers.values()])
        ):
            raise ValueError(
                "CompiledRead: an argument does not reach the SQL as a plain "
                "parameter; use arguments only as filter values compared for "
                "equality."
            )
        compiled = _Compiled(
            queryset=queryset,
            compiler=compiler,
            sql=sql,
            params=params,
            slots=slots,
            types={name: type(value) for name, value in arguments.items()},
            locks=bool(queryset.query.select_for_update)
            and connection.features.has_select_for_update,
        )
        with self._lock:
            return self._compiled.setdefault(connection.vendor, compiled)

    def _sql(
        self, connection: Any, markers: dict[str, int | str]
    ) -> tuple[QuerySet[Any], Any, str, tuple[Any, ...]]:
        queryset = self._build(**markers)
        compiler = queryset.query.get_compiler(connection=connection)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            raise ValueError(
                "CompiledRead: an int argument is compared with a field narrower "
                "than 64 bits."
            ) from None
        return queryset, compiler, sql, tuple(params)


def _slots(
    params: tuple[Any, ...], markers: dict[str, int | str]
) -> tuple[tuple[int, str], ...]:
    """Where each argument's marker sits among ``params``."""
    names = {marker: name for name, marker in markers.items()}
    return tuple(
        (index, names[param])
        for index, param in enumerate(params)
        if type(param) in (int, str) and param in names
    )


def _without(params: tuple[Any, ...], slots: tuple[tuple[int, str], ...]) -> list[Any]:
    taken = {index for index, _name in slots}
    return [param for index, param in enumerate(params) if index not in taken]


def _shows_marker(text: str) -> bool:
    return _STRING_MARKER in text
