"""Helpers for the Django admin tests: URLs, and a changelist's query count at
one row and at twenty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse


def changelist_url(model: type[Model]) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")


def change_url(obj: Model) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def page(client, url: str, **params: Any) -> str:
    """GET an admin page; it must render (200). Returns the HTML."""
    response = client.get(url, params)
    assert response.status_code == 200, url
    return response.content.decode()


def assert_constant_changelist_queries(
    client,
    model: type[Model],
    make_row: Callable[[], Any],
    django_assert_max_num_queries,
    **params: Any,
) -> None:
    """The changelist (filtered by ``params``) costs no more queries with 20
    rows than with 1."""
    make_row()
    url = changelist_url(model)
    with CaptureQueriesContext(connection) as one_row:
        response = client.get(url, params)
    assert response.status_code == 200
    shown = len(response.context["cl"].result_list)
    assert shown >= 1
    for _ in range(19):
        make_row()
    with django_assert_max_num_queries(len(one_row)):
        response = client.get(url, params)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= shown + 19
