"""Failed password sign-ins are held per account and address (django-axes)."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.lockout import lockout_message
from accounts.models import User
from organizations.models import Organization
from tests.factories import PASSWORD, make_member, make_org, make_user

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
OWNER_HOME = "198.51.100.7"


def sign_in(client, email, password, address="127.0.0.1", **headers):
    return client.post(
        reverse("login"),
        {"username": email, "password": password},
        REMOTE_ADDR=address,
        **headers,
    )


def fail_until_held(client, email, address="127.0.0.1", **headers):
    """Fail as often as LOGIN_THROTTLE_LIMIT allows; the last one is held."""
    for _ in range(4):
        response = sign_in(client, email, "wrong", address, **headers)
        assert response.status_code == 400
        assert response.context["form"].has_error(NON_FIELD_ERRORS, "invalid_login")
    response = sign_in(client, email, "wrong", address, **headers)
    assert response.status_code == 429
    return response


def is_held(response) -> bool:
    return response.status_code == 429 and response.context["form"].has_error(
        NON_FIELD_ERRORS, "throttled"
    )


def test_a_held_sign_in_is_the_form_page_with_a_sentence_saying_when_to_retry(
    client,
):
    make_user("target@example.test")
    fail_until_held(client, "target@example.test")

    response = sign_in(client, "target@example.test", PASSWORD)

    assert is_held(response)
    page = response.content.decode()
    assert "<form" in page and 'name="password"' in page
    assert "Wait 15 minutes and try again" in page
    assert "_auth_user_id" not in client.session


def test_owner_signs_in_from_elsewhere_while_someone_hammers_the_account(client):
    org = make_org("acme", name="Acme")
    Organization.objects.filter(pk=org.pk).update(sso_enforced=True)
    attacker = Client()
    fail_until_held(attacker, org.owner.email, ATTACKER)
    for _ in range(10):
        assert is_held(sign_in(attacker, org.owner.email, "wrong", ATTACKER))

    # Break-glass: the owner's password still works from their own address.
    response = sign_in(client, org.owner.email, PASSWORD, OWNER_HOME)
    assert response.status_code == 302
    assert client.get("/orgs/acme/").status_code == 200

    # The attacker's address stays held for this account, right password or not.
    assert is_held(sign_in(Client(), org.owner.email, PASSWORD, ATTACKER))


def test_other_accounts_from_the_held_address_still_sign_in(client):
    make_user("target@example.test")
    make_user("colleague@example.test")
    fail_until_held(client, "target@example.test")

    response = sign_in(client, "colleague@example.test", PASSWORD)

    assert response.status_code == 302


def test_a_success_forgets_the_failures_of_that_address_only(client):
    make_user("target@example.test")
    for address in ("192.0.2.1", "192.0.2.2"):
        for _ in range(4):
            sign_in(client, "target@example.test", "wrong", address)

    response = sign_in(client, "target@example.test", PASSWORD, "192.0.2.1")
    assert response.status_code == 302
    response = sign_in(Client(), "target@example.test", "wrong", "192.0.2.1")
    assert response.context["form"].has_error(NON_FIELD_ERRORS, "invalid_login")
    assert is_held(sign_in(Client(), "target@example.test", "wrong", "192.0.2.2"))


def test_spellings_of_one_email_count_as_one_account(client):
    make_user("target@example.test")
    for email in ("Target@Example.test", " target@example.test", "TARGET@EXAMPLE.TEST"):
        sign_in(client, email, "wrong")
    sign_in(client, "target@example.test", "wrong")
    response = sign_in(client, " Target@example.TEST ", "wrong")

    assert is_held(response)
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {
        "target@example.test"
    }


def test_behind_a_proxy_each_forwarded_client_is_held_on_its_own(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"address": "10.0.0.1"}
    make_user("target@example.test")
    attacker = Client()
    fail_until_held(
        attacker, "target@example.test", HTTP_X_FORWARDED_FOR=ATTACKER, **proxy
    )
    # Writing another address first in the header changes nothing.
    spoofed = f"{OWNER_HOME}, {ATTACKER}"
    assert is_held(
        sign_in(
            attacker,
            "target@example.test",
            PASSWORD,
            HTTP_X_FORWARDED_FOR=spoofed,
            **proxy,
        )
    )

    owner = {"HTTP_X_FORWARDED_FOR": OWNER_HOME, **proxy}
    response = sign_in(client, "target@example.test", PASSWORD, **owner)

    assert response.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_the_hold_ends_after_the_login_throttle_window(client, settings):
    make_user("target@example.test")
    fail_until_held(client, "target@example.test")

    window = timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW)
    AccessAttempt.objects.update(attempt_time=timezone.now() - window)

    assert sign_in(client, "target@example.test", PASSWORD).status_code == 302


def test_support_staff_see_the_hold_in_the_admin_and_clear_it(client):
    make_user("target@example.test")
    fail_until_held(Client(), "target@example.test")
    staff = User.objects.create_superuser(
        email="support@example.test", password=PASSWORD
    )
    client.force_login(staff, backend="accounts.backends.EmailPasswordBackend")
    listing = client.get("/django-admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "target@example.test" in listing.content.decode()

    call_command("axes_reset_username", "target@example.test")

    assert sign_in(Client(), "target@example.test", PASSWORD).status_code == 302


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_a_held_admin_sign_in_gets_the_same_sentence_not_axes_default(accept):
    make_user("target@example.test")
    browser = Client(HTTP_ACCEPT=accept)
    for _ in range(5):
        response = browser.post(
            "/django-admin/login/",
            {"username": "target@example.test", "password": "wrong"},
        )

    assert response.status_code == 429
    if accept == "application/json":
        assert response.json()["code"] == "throttled"
        assert response.json()["error"] == lockout_message()
    else:
        assert "Wait 15 minutes and try again" in response.content.decode()


def test_json_views_answer_as_usual_from_a_held_address(client):
    org = make_org("acme")
    member = make_member(org, "admin")
    fail_until_held(client, member.user.email)

    response = client.get(reverse("me"), HTTP_ACCEPT="application/json")
    assert (response.status_code, response.json()["code"]) == (401, "not_signed_in")

    client.force_login(member.user, backend="accounts.backends.EmailPasswordBackend")
    response = client.get(reverse("me"), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["email"] == member.user.email
