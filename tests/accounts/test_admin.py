"""The Django admin for support staff: people, read-only, no password hash."""

from __future__ import annotations

from accounts.models import User
from tests.admin_pages import (
    assert_constant_changelist_queries,
    change_url,
    changelist_url,
    page,
)
from tests.factories import make_user


def test_user_pages_render_and_search_by_email(admin_client):
    person = make_user("ada@acme.test")
    make_user("grace@globex.test")
    response = admin_client.get(changelist_url(User), {"q": "ada@acme"})
    assert list(response.context["cl"].result_list) == [person]
    html = page(admin_client, change_url(person))
    assert "ada@acme.test" in html
    assert person.password not in html
    assert 'name="is_active"' not in html


def test_users_cannot_be_changed_in_the_admin(admin_client):
    person = make_user("ada@acme.test")
    response = admin_client.post(
        change_url(person), {"email": person.email, "is_active": "", "is_staff": "on"}
    )
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.is_active and not person.is_staff


def test_user_changelist_costs_the_same_with_1_and_20_rows(
    admin_client, django_assert_max_num_queries
):
    assert_constant_changelist_queries(
        admin_client, User, make_user, django_assert_max_num_queries
    )
