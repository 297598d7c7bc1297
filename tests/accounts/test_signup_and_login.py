import pytest
from django.core import mail
from django.core.exceptions import NON_FIELD_ERRORS
from django.urls import reverse

from accounts.models import PendingSignup, User
from organizations.models import AuditEvent, Organization
from rolemapping.models import Membership, Role
from tests.factories import PASSWORD, make_member, make_org, make_user

from .helpers import signup_link

SIGNUP = {
    "email": "Founder@Acme.test",
    "password1": "a-long-and-unusual-passphrase",
    "password2": "a-long-and-unusual-passphrase",
    "org_name": "Acme Inc",
    "login_path": "acme",
}


def test_signup_creates_owner_org_seeded_roles_and_audit_row(client, db, committed):
    with committed():
        response = client.post(reverse("signup"), SIGNUP)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/signup/sent/"
    # In one step, when the emailed link is opened with the password.
    assert not User.objects.exists() and not Organization.objects.exists()
    client.post(signup_link("founder@acme.test"), {"password": SIGNUP["password1"]})
    user = User.objects.get()
    assert user.email == "founder@acme.test"
    org = Organization.objects.get()
    assert (org.name, org.login_path, org.owner) == ("Acme Inc", "acme", user)
    assert sorted(
        Role.objects.filter(organization=org).values_list("slug", flat=True)
    ) == ["admin", "member", "owner", "viewer"]
    membership = Membership.objects.get()
    assert (membership.user, membership.role.slug, membership.source) == (
        user,
        "owner",
        "owner",
    )
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"user.signed_up", "organization.created"} <= actions
    assert AuditEvent.objects.get(action="organization.created").actor == user
    client.post(
        reverse("login"),
        {"username": "founder@acme.test", "password": SIGNUP["password1"]},
    )
    assert client.get("/orgs/acme/").status_code == 200


@pytest.mark.parametrize(
    ("login_path", "code"),
    [
        ("ACME", "login_path_taken"),
        ("admin", "login_path_reserved"),
        ("ab", "login_path_length"),
        ("a" * 41, "login_path_length"),
        ("acme_corp", "login_path_characters"),
        ("-acme", "login_path_characters"),
        ("acmé", "login_path_characters"),
    ],
)
def test_signup_refuses_bad_login_paths_with_a_sentence(client, db, login_path, code):
    make_org("acme")
    users_before = User.objects.count()

    response = client.post(
        reverse("signup"), {**SIGNUP, "email": "x@y.test", "login_path": login_path}
    )

    assert response.status_code == 400
    assert response.context["form"].has_error("login_path", code)
    assert User.objects.count() == users_before  # nothing half-created
    assert Organization.objects.count() == 1


def test_signup_refuses_mismatched_passwords(client, db):
    response = client.post(reverse("signup"), {**SIGNUP, "password2": "other"})
    assert response.status_code == 400
    assert response.context["form"].has_error("password2", "password_mismatch")
    assert "The two passwords differ" in response.content.decode()
    assert not Organization.objects.exists()


def test_password_login_is_case_insensitive_and_respects_next(client, db):
    make_user("someone@example.test")
    response = client.post(
        reverse("login"),
        {
            "username": "SomeOne@Example.test",
            "password": PASSWORD,
            "next": "/accounts/me/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/me/"


def test_login_next_is_limited_to_local_paths(client, db):
    make_user("someone@example.test")
    response = client.post(
        reverse("login"),
        {
            "username": "someone@example.test",
            "password": PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == "/"


def test_failed_sign_ins_are_throttled_per_account(client, db):
    make_user("target@example.test")
    for _ in range(4):
        response = client.post(
            reverse("login"), {"username": "target@example.test", "password": "nope"}
        )
        assert response.context["form"].has_error(NON_FIELD_ERRORS, "invalid_login")
    # The fifth failure is the last; even the right password is refused then.
    for password in ("nope", PASSWORD):
        response = client.post(
            reverse("login"), {"username": "target@example.test", "password": password}
        )
        assert response.status_code == 429
        assert response.context["form"].has_error(NON_FIELD_ERRORS, "throttled")
    assert "_auth_user_id" not in client.session


def test_logout_needs_post(client, db):
    user = make_user()
    client.force_login(user)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("me")).status_code == 401


def test_password_reset_sends_a_link_that_works_once(client, db, committed):
    make_user("forgetful@example.test")
    with committed():
        client.post(reverse("password_reset"), {"email": "forgetful@example.test"})
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    link = next(line for line in body.splitlines() if "/accounts/reset/" in line)
    path = link.split("testserver", 1)[1]
    response = client.get(path, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url,
        {
            "new_password1": "brand-new-passphrase-42",
            "new_password2": "brand-new-passphrase-42",
        },
    )
    assert response.status_code == 302
    response = client.post(
        reverse("login"),
        {"username": "forgetful@example.test", "password": "brand-new-passphrase-42"},
    )
    assert response.status_code == 302
    assert "no longer works" in client.get(path, follow=True).content.decode()


def test_enforced_member_is_refused_password_sign_in_but_owner_is_not(client, db):
    org = make_org("acme", name="Acme")
    member = make_member(org, "member")
    Organization.objects.filter(pk=org.pk).update(sso_enforced=True)

    response = client.post(
        reverse("login"), {"username": member.user.email, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert response.context["form"].has_error(NON_FIELD_ERRORS, "sso_required")
    assert "_auth_user_id" not in client.session

    response = client.post(
        reverse("login"), {"username": org.owner.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/orgs/acme/").status_code == 200


def test_password_session_cannot_open_an_enforced_org_it_does_not_own(client, db):
    org = make_org("acme", name="Acme")
    mine = make_org("mine")
    member = make_member(org, "admin", user=mine.owner)
    # The owner of an enforced organization keeps break-glass password sign-in.
    Organization.objects.filter(pk__in=[org.pk, mine.pk]).update(sso_enforced=True)
    response = client.post(
        reverse("login"), {"username": member.user.email, "password": PASSWORD}
    )
    assert response.status_code == 302

    response = client.get("/orgs/acme/")
    assert response.status_code == 403
    assert "requires single sign-on" in response.content.decode()
    assert client.get("/orgs/mine/").status_code == 200


def test_me_lists_memberships_and_is_401_for_anonymous(client, db):
    org = make_org("acme")
    anonymous = client.get(reverse("me"))
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_signed_in")
    client.force_login(org.owner)
    data = client.get(reverse("me"), HTTP_ACCEPT="application/json").json()
    assert data == {
        "email": org.owner.email,
        "email_verified": True,
        "memberships": [{"org": "acme", "role": "owner", "source": "owner"}],
    }


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example/", "/orgs/\x00x/", "/" + "a" * 3000]
)
def test_login_next_refuses_anything_but_a_plain_local_path(client, db, target):
    make_user("someone@example.test")
    response = client.post(
        reverse("login"),
        {"username": "someone@example.test", "password": PASSWORD, "next": target},
    )
    assert response["Location"] == "/"


def test_password_login_ignores_case_spaces_and_a_trailing_dot(client, db):
    make_user("someone@example.test")
    response = client.post(
        reverse("login"),
        {"username": " SomeOne@Example.test. ", "password": PASSWORD},
    )
    assert response.status_code == 302


def test_signup_stores_the_canonical_address(client, db, committed):
    with committed():
        client.post(reverse("signup"), {**SIGNUP, "email": " Founder@Acme.Test. "})
    assert PendingSignup.objects.get().email == "founder@acme.test"
    client.post(signup_link("founder@acme.test"), {"password": SIGNUP["password1"]})
    assert User.objects.get().email == "founder@acme.test"


def test_signup_refuses_an_address_that_is_not_plain_ascii(client, db):
    response = client.post(
        reverse("signup"), {**SIGNUP, "email": "founder@\uff41\uff43\uff4d\uff45.test"}
    )
    assert response.status_code == 400
    assert response.context["form"].has_error("email", "not_ascii")
    assert not User.objects.exists()
    assert not PendingSignup.objects.exists()
