"""The setup link journey, in Chromium, against the whole stack.

The owner of Initech creates a setup link for Ivy, who administers their IdP.
Ivy opens it in her own browser (a fresh context: no account, no console),
follows the wizard: chooses the provider, reads the URIs to paste, enters the
app's details, runs the check (the worker runs it; the page follows it live)
and signs in at the IdP with her own account for a test sign-in. Publishing
through the link is refused; the owner sees what Ivy did in the audit log,
revokes the link, and Ivy's next page is refused.

Independent of test_journeys.py's story: its own organization, people and IdP
app. Every page goes through ``watch.check`` (console errors, axe-core, a
screenshot); with UPDATE_DOCS_SCREENSHOTS=1 it refreshes docs/img/setup-link-*.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from accounts.models import User
from domains.models import Domain
from organizations.services import organization_create
from tests.e2e.test_journeys import (
    LIVE_TIMEOUT_MS,
    Person,
    doc_image,
    expect,
    expect_error_status,
    open_page,
    sign_in_at_idp,
)

ORG_NAME = "Initech"
LOGIN_PATH = "umbrella"
DOMAIN = "umbrella.example"
CLIENT_ID = "0oa-e2e-setup-link"
CLIENT_SECRET = "e2e-setup-link-secret-" + "y" * 20
LINK_RE = re.compile(r"http://127\.0\.0\.1:\d+/setup/[A-Za-z0-9_-]{20,}/")

OWNER = Person(f"owner@{DOMAIN}", "00u-umbrella-owner", ("it",))
IVY = Person(f"ivy@{DOMAIN}", "00u-umbrella-ivy", ("it",))


class _Story:
    """Just what the shared helpers read: the stack's addresses and IdP."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def idp(self) -> Any:
        return self.stack.idp

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="module")
def initech(e2e_stack) -> _Story:
    """Initech: its owner (password sign-in), a verified domain, a default
    role; its people at the IdP. Committed: gunicorn reads it."""
    # Hashed as gunicorn's settings hash (the suite's own use MD5 for speed).
    hasher = PBKDF2PasswordHasher()
    owner = User.objects.create_user(
        email=OWNER.email, password=None, email_verified_at=timezone.now()
    )
    owner.password = hasher.encode(OWNER.password, hasher.salt())
    owner.save(update_fields=["password"])
    org = organization_create(name=ORG_NAME, login_path=LOGIN_PATH, owner=owner)
    Domain.objects.create(
        organization=org,
        name=DOMAIN,
        token="e2e",
        status=Domain.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    org.default_role = "member"
    org.save(update_fields=["default_role"])
    for person in (OWNER, IVY):
        e2e_stack.idp.add_account(
            person.sub,
            person.email,
            groups=person.groups,
            password=person.idp_password,
            name=person.email.split("@")[0].capitalize(),
        )
    return _Story(e2e_stack)


def _owner_signs_in(page: Any, watch: Any, story: _Story) -> None:
    page.goto(story.url("/accounts/login/"))
    page.get_by_label("Email").fill(OWNER.email)
    page.get_by_label("Password").fill(OWNER.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/"))
    watch.check("overview")


def _check_narrow(page: Any, watch: Any, step: str) -> None:
    """The page at 375 px: no sideways scrolling, and axe-core still passes."""
    page.set_viewport_size({"width": 375, "height": 812})
    try:
        watch.check(f"{step}-375")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement"
            ".clientWidth"
        )
        assert overflow <= 0, f"{step}: {overflow}px wider than a 375 px screen"
    finally:
        page.set_viewport_size({"width": 1280, "height": 860})


def test_it_admin_sets_up_the_draft_through_a_setup_link(initech, new_page):
    story = initech
    owner_page, owner_watch = open_page(new_page, story, "setup-owner")
    _owner_signs_in(owner_page, owner_watch, story)

    # The owner creates the link; it is shown once.
    owner_page.get_by_role("navigation", name=ORG_NAME).get_by_role(
        "link", name="Setup links"
    ).click()
    expect(owner_page.get_by_role("heading", level=1)).to_have_text("Setup links")
    owner_watch.check("links-empty")
    owner_page.get_by_label("IT admin's email address").fill(IVY.email)
    owner_page.get_by_label("Note (optional)").fill("Okta app for production")
    owner_page.get_by_role("button", name="Create the link").click()
    shown = owner_page.get_by_role("region", name="The new setup link")
    expect(shown).to_be_visible()
    owner_watch.check("link-created")
    doc_image(shown, "setup-link-created")
    link = shown.locator("#new-setup-link").inner_text().strip()
    assert LINK_RE.fullmatch(link), link
    assert link.startswith(story.base_url)

    # Ivy opens it in her own browser: a page that says what it is.
    ivy_page, ivy_watch = open_page(new_page, story, "setup-ivy")
    ivy_page.goto(link)
    expect(ivy_page.get_by_role("heading", level=1)).to_have_text(
        f"Set up single sign-on for {ORG_NAME}"
    )
    ivy_watch.check("link-page")
    ivy_page.get_by_role("button", name="Start setting up").click()
    expect(ivy_page).to_have_url(story.url("/setup/"))
    ivy_watch.check("wizard-start")
    _check_narrow(ivy_page, ivy_watch, "wizard-start")
    ivy_page.get_by_label("Okta").check()
    ivy_page.get_by_role("button", name="Next: the app's details").click()
    expect(ivy_page.get_by_role("heading", level=1)).to_have_text("Connect Okta")
    ivy_watch.check("wizard-configure")
    _check_narrow(ivy_page, ivy_watch, "wizard-configure")
    doc_image(
        ivy_page.get_by_role("region", name="At your identity provider"),
        "setup-link-uris",
    )

    # The URIs she pastes into the IdP app, read off the page.
    redirect_uri = ivy_page.locator("#uri-redirect").inner_text().strip()
    logout_uri = ivy_page.locator("#uri-logout").inner_text().strip()
    assert redirect_uri == story.url("/sso/callback/")
    story.idp.add_client(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uris=[redirect_uri],
        post_logout_redirect_uris=[logout_uri],
    )
    ivy_page.get_by_label("Name").fill("Okta production")
    ivy_page.get_by_label("Issuer URL").fill(story.idp.path_issuer)
    ivy_page.get_by_label("Client ID").fill(CLIENT_ID)
    ivy_page.get_by_label("Client secret", exact=True).fill(CLIENT_SECRET)
    ivy_page.get_by_role("button", name="Save the draft").click()
    expect(ivy_page).to_have_url(story.url("/setup/"))
    expect(ivy_page.get_by_role("region", name="2. The app's details")).to_contain_text(
        "saved as a draft"
    )
    ivy_watch.check("wizard-saved")
    assert CLIENT_SECRET not in ivy_page.content()

    # The check runs in the worker; her page follows it live.
    ivy_page.get_by_role("button", name="Run the check").click()
    expect(ivy_page.get_by_role("heading", level=1)).to_contain_text("Connection check")
    expect(ivy_page.locator("h1 .badge")).to_have_text(
        "Passed", timeout=LIVE_TIMEOUT_MS
    )
    expect(ivy_page.locator("[data-poll-url]")).to_have_count(0)
    ivy_watch.check("wizard-check-passed")
    doc_image(ivy_page.locator("main"), "setup-link-check")

    # A test sign-in with her own account at the IdP.
    ivy_page.get_by_role("button", name="Test sign-in with the draft").click()
    sign_in_at_idp(ivy_page, ivy_watch, story, IVY, "wizard-test-idp")
    expect(ivy_page.get_by_role("heading", level=1)).to_contain_text("Test sign-in")
    result = ivy_page.get_by_role("region", name="Test sign-in result")
    expect(result).to_contain_text(f"{IVY.email} would sign in as member")
    ivy_watch.check("wizard-test-passed")
    doc_image(result, "setup-link-test-signin")

    # Publishing is not for the link: a page that says so.
    ivy_page.goto(story.url("/setup/publish/"))
    expect(ivy_page.get_by_role("alert")).to_contain_text(
        "Publishing it, which switches the organization to single sign-on, is for "
        "the organization's owner"
    )
    expect_error_status(ivy_page, ivy_watch, 403)
    ivy_watch.check("wizard-publish-refused")

    # The owner sees what Ivy did, and revokes the link.
    owner_page.goto(story.url(f"/orgs/{LOGIN_PATH}/audit/"))
    expect(
        owner_page.get_by_role("cell", name=f"IT admin {IVY.email} via setup link")
    ).to_have_count(4)  # opened, connection created, check started, test sign-in
    owner_watch.check("audit")
    owner_page.goto(story.url(f"/orgs/{LOGIN_PATH}/setup-links/"))
    owner_page.get_by_role("button", name=f"Revoke the link for {IVY.email}").click()
    expect(owner_page.get_by_role("status").first).to_contain_text("is revoked")
    owner_watch.check("link-revoked")

    # Ivy's next page is refused, with the reason.
    ivy_page.goto(story.url("/setup/"))
    expect(ivy_page.get_by_role("alert")).to_contain_text("This setup link was revoked")
    expect_error_status(ivy_page, ivy_watch, 410)
    ivy_watch.check("wizard-revoked")
