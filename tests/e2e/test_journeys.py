"""The six journeys of an organization, in Chromium, against the whole stack.

gunicorn serves the console, a real Celery worker runs checks and sends email
(to a loopback SMTP mailbox), the IdP is the real ``oidc-provider`` set up the
way an Okta admin sets up an app (a ``groups`` claim, the sign-in and sign-out
redirect URIs read off our connection page), and domain verification asks the
loopback DNS server (tests/fixtures/e2e.py builds all of it).

The journeys are one story, so they share state and run in file order:

1. the owner signs up, confirms the address from the emailed link, verifies a
   domain, connects the IdP, checks and test-signs-in, maps groups and
   enforces SSO (before that, an early teammate, Carol, joined with a
   password);
2. the owner invites Alice and Bob: Alice follows the email link and gets her
   invited role; Bob signs in through email-first /login/ and gets his role from
   his group;
3. Carol's password is refused and she is sent to SSO; the owner keeps password
   sign-in;
4. the owner lets only members of mapped groups in, the IdP admin removes Bob
   from his group, and Bob is refused at his next sign-in;
5. Carol signs out, and the IdP session ends too;
6. the owner creates a SCIM token, and the directory provisions Carol, pushes
   her group and deactivates her: her open session ends on its next request
   and SSO refuses her.

The state lives in the module-scoped ``story`` fixture; each journey records
that it finished, and a later journey fails at once, saying which one it
needs, when an earlier one did not (so run the module whole, not one journey
with -k). The first test also makes pytest-django create the test database
that gunicorn and the worker use. Each person gets a fresh browser context
(own cookies) per journey. Every page visited goes through ``watch.check``:
no console error, no serious or critical axe-core violation, and a screenshot
in artifacts/e2e/. With UPDATE_DOCS_SCREENSHOTS=1 the run also refreshes the
images of docs/okta-setup.md in docs/img/.

Run: DATABASE_URL=postgres://... CACHE_URL=redis://... CELERY_BROKER_URL=redis://...
E2E_REQUIRED=1 pytest tests/e2e (or `make e2e`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.fixtures.e2e import ARTIFACTS, ROOT, copy_screenshot_to_docs

ORG_NAME = "Acme"
LOGIN_PATH = "acme"
DOMAIN = "acme.example"  # RFC 2606: a name that can never be anyone's
CONNECTION_NAME = "Okta production"
CLIENT_ID = "0oa-e2e-console"
CLIENT_SECRET = "e2e-client-secret-" + "x" * 24
# Long enough for the workers and the IdP round trips, short enough that a
# stuck step fails the run quickly.
LIVE_TIMEOUT_MS = 20_000
# Page changes within one request; generous for a loaded CI machine.
EXPECT_TIMEOUT_MS = 10_000
DOCS_IMG = ROOT / "docs" / "img"
INVITE_LINK_RE = re.compile(r"https?://\S+/invitations/[^/\s]+/")
CONFIRM_LINK_RE = re.compile(r"https?://\S+/accounts/signup/confirm/[^/\s]+/")


@dataclass(frozen=True)
class Person:
    """Someone in the story: their console password (if any) and IdP account."""

    email: str
    sub: str
    groups: tuple[str, ...]
    password: str = "Sturdy-passphrase-for-e2e-42"
    idp_password: str = "idp-password-e2e"


@dataclass
class Story:
    """What the journeys share, in the order they learn it."""

    stack: Any
    owner: Person
    carol: Person
    alice: Person
    bob: Person
    finished: set[int] = field(default_factory=set)
    connection_url: str = ""

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def idp(self) -> Any:
        return self.stack.idp

    def url(self, path: str) -> str:
        return self.base_url + path

    def needs(self, *journeys: int) -> None:
        """Fail at once, with the reason, when an earlier journey did not finish."""
        missing = [j for j in journeys if j not in self.finished]
        if missing:
            pytest.fail(
                f"This journey continues journey {missing[0]}, which did not "
                "finish; see its failure above (run the whole module, in order)."
            )


def expect(target: Any, **kwargs: Any) -> Any:
    """Playwright's ``expect``, waiting up to EXPECT_TIMEOUT_MS by default."""
    # Imported here: without Playwright the module must still be collectable,
    # so that the journeys are deselected with a reason instead of erroring.
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    return playwright_expect(target, **kwargs)


@pytest.fixture(scope="module")
def story(e2e_stack) -> Story:
    """The organization's people, registered at the IdP like Okta users."""
    idp = e2e_stack.idp
    # A fresh Okta org: nothing left by other tests sharing the session's IdP.
    idp.reset()
    people = {
        "owner": Person(f"owner@{DOMAIN}", "00u-owner", ("IT-Admins",)),
        "carol": Person(f"carol@{DOMAIN}", "00u-carol", ("Engineering",)),
        "alice": Person(f"alice@{DOMAIN}", "00u-alice", ()),
        "bob": Person(f"bob@{DOMAIN}", "00u-bob", ("Engineering",)),
    }
    for person in people.values():
        idp.add_account(
            person.sub,
            person.email,
            groups=person.groups,
            password=person.idp_password,
            name=person.email.split("@")[0].capitalize(),
        )
    return Story(
        stack=e2e_stack,
        owner=people["owner"],
        carol=people["carol"],
        alice=people["alice"],
        bob=people["bob"],
    )


# ---------------------------------------------------------------- helpers


def doc_image(locator: Any, name: str) -> None:
    """Save ``locator`` as docs/img/<name>.png (with UPDATE_DOCS_SCREENSHOTS=1)."""
    path = ARTIFACTS / f"doc-{name}.png"
    locator.screenshot(path=str(path), animations="disabled", caret="hide")
    copy_screenshot_to_docs(path, name)
    optipng = shutil.which("optipng")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") and optipng:
        # Lossless; keeps the guide's images small in the repository.
        subprocess.run(  # noqa: S603 (a fixed tool on a file this run wrote)
            [optipng, "-quiet", "-o2", "-strip", "all", str(DOCS_IMG / f"{name}.png")],
            check=True,
            timeout=60,
        )


def open_page(new_page: Any, story: Story, name: str) -> tuple[Any, Any]:
    """``new_page``, with a favicon for the test IdP.

    The test IdP serves none, and Chromium logs the 404 of its own favicon
    request as a console error of the IdP's page, which would fail the next
    check; a real IdP has one.
    """
    page, watch = new_page(name)
    page.context.route(
        f"{story.idp.origin}/favicon.ico",
        lambda route: route.fulfill(status=204),
    )
    return page, watch


def sign_in_with_password(page: Any, watch: Any, story: Story, person: Person):
    """The native sign-in form, as the owner uses it."""
    page.goto(story.url("/accounts/login/"))
    watch.check("password-form")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_at_idp(page: Any, watch: Any, story: Story, person: Person, step: str):
    """The IdP's sign-in form: the browser is there, asking who this is."""
    page.wait_for_url(f"{story.idp.origin}/**")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    watch.check(step)
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.idp_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{story.base_url}/**")


def sign_in_email_first(page: Any, watch: Any, story: Story, person: Person, step):
    """/login/: the email decides the organization, then its IdP signs in."""
    page.goto(story.url("/login/"))
    watch.check(f"{step}-email-first")
    page.get_by_label("Work email").fill(person.email)
    page.get_by_role("button", name="Continue").click()
    # The IdP receives the address as login_hint and fills it in.
    page.wait_for_url(f"{story.idp.origin}/**")
    expect(page.get_by_label("Email")).to_have_value(person.email)
    sign_in_at_idp(page, watch, story, person, f"{step}-idp")


def expect_overview(page: Any, watch: Any, story: Story, role: str, step: str):
    """Signed in to the organization's console, with ``role``: owners and
    admins see the set-up checklist, members and viewers their home."""
    expect(page).to_have_url(story.url(f"/orgs/{LOGIN_PATH}/"))
    if role in ("owner", "admin"):
        expect(page.get_by_role("heading", level=1, name=ORG_NAME)).to_be_visible()
        expect(page.locator("p.lead")).to_contain_text(f"your role: {role}")
        expect(page.get_by_role("heading", name="Set-up checklist")).to_be_visible()
    else:
        expect(
            page.get_by_role("heading", level=1, name=f"Welcome to {ORG_NAME}")
        ).to_be_visible()
        expect(page.locator("p.lead")).to_contain_text(
            f"You are a {role.capitalize()} of {ORG_NAME}"
        )
        expect(page.get_by_role("heading", name="Set-up checklist")).to_have_count(0)
        nav = page.get_by_role("navigation", name=ORG_NAME)
        expect(nav.get_by_role("link", name="Domains")).to_have_count(0)
    watch.check(step)


def expect_error_status(page: Any, watch: Any, status: int) -> None:
    """The page is an intended 4xx answer (a refused form or sign-in).

    Chromium logs a document's error status as a console error. That one
    entry is the product doing its job, so it is taken off the watch's list;
    any other console error still fails the check.
    """
    expected = f"console error at {page.url}: Failed to load resource: the server "
    expected += f"responded with a status of {status} "
    matching = [error for error in watch.errors if error.startswith(expected)]
    assert matching, f"{page.url} should have answered {status}: {watch.errors}"
    watch.errors.remove(matching[0])


def emailed_link(story: Story, email: str, pattern: re.Pattern, what: str) -> str:
    """The link matching ``pattern`` in the latest email the worker sent to
    ``email``."""
    message = story.stack.mailbox.wait_for(email)
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = pattern.search(text)
    assert match, f"no {what} link in the email to {email}:\n{text}"
    link = match.group(0)
    assert link.startswith(story.base_url), link
    return link


def invitation_link(story: Story, email: str) -> str:
    """The accept link of the invitation email the worker sent to ``email``."""
    return emailed_link(story, email, INVITE_LINK_RE, "invitation")


def invite(page: Any, watch: Any, story: Story, emails: list[str], role: str, step):
    """The owner invites ``emails`` with ``role`` from the Invitations page."""
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/invitations/"))
    watch.check(f"{step}-form")
    page.get_by_label("Email addresses").fill("\n".join(emails))
    page.get_by_label("Role").select_option(role)
    page.get_by_role("button", name="Send invitations").click()
    result = page.get_by_role("region", name="Result")
    expect(result).to_contain_text(f"{len(emails)} invited")
    watch.check(f"{step}-sent")


def idp_sessions_of(story: Story, person: Person) -> set[str]:
    """The uids of ``person``'s sessions at the IdP, from its control API."""
    return {s["uid"] for s in story.idp.sessions() if s["account_id"] == person.sub}


def member_row(page: Any, email: str) -> Any:
    """The row of ``email`` in a table of people."""
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=email))


# ----------------------------------------------------------------- journeys


def test_the_stack_is_ready_on_the_test_database(db, e2e_stack):
    """gunicorn answers /readyz from the test database and the broker.

    Runs first, for a reason beyond the check: pytest-django creates the test
    database only when a collected test asks for ``db``. The journeys reach
    the database only through gunicorn and the worker, so this test asks.
    """
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the env names
    response = session.get(e2e_stack.base_url + "/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "worker": "ok",
    }


def test_owner_sets_up_sso_from_sign_up_to_enforcement(story: Story, new_page):
    """Journey 1: sign up, verify the domain, connect Okta, check, test sign-in,
    map groups, enforce SSO. Before the switch Carol joins with a password."""
    page, watch = open_page(new_page, story, "1-owner")
    owner = story.owner

    # Sign up: the owner and the organization, made when the link is opened.
    page.goto(story.url("/accounts/signup/"))
    watch.check("signup")
    page.get_by_label("Work email").fill(owner.email)
    page.get_by_label("Password", exact=True).fill(owner.password)
    page.get_by_label("Password again").fill(owner.password)
    page.get_by_label("Organization name").fill(ORG_NAME)
    page.get_by_label("Login path").fill(LOGIN_PATH)
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    watch.check("signup-sent")

    # The emailed link, opened with the password, proves the address and
    # creates the owner and the organization.
    page.goto(emailed_link(story, owner.email, CONFIRM_LINK_RE, "confirmation"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Confirm {owner.email}")
    watch.check("confirm-address")
    page.get_by_label("Password").fill(owner.password)
    page.get_by_role("button", name="Confirm and sign in").click()
    expect_overview(page, watch, story, "owner", "overview-new")
    expect(page.get_by_role("status")).to_contain_text(f"{owner.email} is confirmed")

    # Domain: add it, publish the TXT record it shows, watch it verify.
    page.get_by_role("navigation", name=ORG_NAME).get_by_role(
        "link", name="Domains"
    ).click()
    expect(page.get_by_text("No domains yet.")).to_be_visible()
    watch.check("domains-empty")
    page.get_by_label("Domain", exact=True).fill(DOMAIN)
    page.get_by_role("button", name="Add domain").click()
    card = page.get_by_role("region", name=re.compile(rf"^{re.escape(DOMAIN)}"))
    expect(card.locator(".badge").first).to_have_text("Pending")
    watch.check("domain-added")
    doc_image(card, "domain-record")
    txt_name = card.locator("code[id^=txt-name-]").inner_text().strip()
    txt_value = card.locator("code[id^=txt-value-]").inner_text().strip()
    assert txt_name == f"_sso-console-challenge.{DOMAIN}"
    story.stack.dns.set_txt(txt_name, txt_value)
    card.get_by_role("button", name=f"Verify now {DOMAIN}").click()
    # The worker looks the record up; console.js reloads the page when it is done.
    expect(card.locator(".badge").first).to_have_text(
        "Verified", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.locator("[data-poll-url]")).to_have_count(0)
    watch.check("domain-verified")
    # Removing a verified domain asks first; the owner keeps it.
    card.get_by_role("button", name=f"Remove {DOMAIN}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Remove the verified domain {DOMAIN}?"
    )
    watch.check("domain-remove-confirm")
    page.get_by_role("link", name="Keep it").click()
    expect(card.locator(".badge").first).to_have_text("Verified")

    # Before the switch: an early teammate joins with a password.
    invite(page, watch, story, [story.carol.email], "viewer", "invite-carol")
    carol_page, carol_watch = open_page(new_page, story, "1-carol")
    carol_page.goto(invitation_link(story, story.carol.email))
    expect(carol_page.get_by_role("heading", name=f"Join {ORG_NAME}")).to_be_visible()
    # Before the switch, the page says what it will do to this password.
    expect(carol_page.get_by_role("note")).to_contain_text(
        "the password you choose here stops working"
    )
    carol_watch.check("accept-invitation")
    carol_page.get_by_label("Your name").fill("Carol")
    carol_page.get_by_label("Password", exact=True).fill(story.carol.password)
    carol_page.get_by_label("Password again").fill(story.carol.password)
    carol_page.get_by_role("button", name="Create account and join").click()
    expect_overview(carol_page, carol_watch, story, "viewer", "joined")
    carol_page.context.close()

    # The connection: what the IdP admin hands over, pasted in.
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/connections/"))
    watch.check("connections-empty")
    page.get_by_role("link", name="Add a connection").click()
    page.get_by_label("Name").fill(CONNECTION_NAME)
    page.get_by_label("Provider").select_option("okta")
    page.get_by_label("Issuer URL").fill(story.idp.path_issuer)
    page.get_by_label("Client ID").fill(CLIENT_ID)
    page.get_by_label("Client secret", exact=True).fill(CLIENT_SECRET)
    expect(page.get_by_label("Groups claim")).to_have_value("groups")
    page.get_by_label("Also sign out of the IdP when signing out here").check()
    watch.check("connection-form")
    doc_image(page.locator("main section.card"), "connection-form")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(CONNECTION_NAME)
    story.connection_url = page.url
    watch.check("connection-draft")
    assert CLIENT_SECRET not in page.content()

    # The URIs the IdP admin types into the Okta app, read off the page.
    uris = page.get_by_role("region", name="Enter these in your IdP app")
    doc_image(uris, "connection-uris")
    redirect_uri = uris.locator("#uri-redirect").inner_text().strip()
    logout_uri = uris.locator("#uri-logout").inner_text().strip()
    login_uri = uris.locator("#uri-login").inner_text().strip()
    initiate_uri = uris.locator("#uri-initiate").inner_text().strip()
    assert redirect_uri == story.url("/sso/callback/")
    assert logout_uri == story.url("/sso/logged-out/")
    assert login_uri == story.url(f"/sso/login/{LOGIN_PATH}/")
    assert initiate_uri == story.url(f"/sso/initiate/{LOGIN_PATH}/")
    story.idp.add_client(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uris=[redirect_uri],
        post_logout_redirect_uris=[logout_uri],
    )

    # The connection check runs in the worker; the page follows it live.
    page.get_by_role("button", name="Test configuration").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Connection check")
    expect(page.locator("h1 .badge")).to_have_text("Passed", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("[data-poll-url]")).to_have_count(0)
    steps = page.locator("ol.steps > li")
    expect(steps).to_have_count(8)
    expect(steps.locator(".badge").filter(has_text="Failed")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text(
        "Configuration tested successfully"
    )
    watch.check("check-passed")
    doc_image(page.get_by_role("region", name="Steps"), "check-passed")

    # A test sign-in before any mapping: the claims arrive, the role does not.
    page.goto(story.connection_url)
    expect(page.get_by_text("Configuration tested successfully")).to_be_visible()
    watch.check("connection-tested")
    page.get_by_role("button", name="Test sign-in with the draft").click()
    sign_in_at_idp(page, watch, story, owner, "test-signin-idp")
    result = page.get_by_role("region", name="Test sign-in result")
    expect(result).to_contain_text("Failed")
    expect(result.locator("ul li code")).to_have_text(["IT-Admins"])
    expect(page.locator("ol.steps > li").last).to_contain_text("Failed")
    # The draft is fine: the page sends the owner to Role mapping.
    failed = page.get_by_role("status").filter(has_text="role step")
    expect(failed).not_to_contain_text("edit the draft")
    expect(failed.get_by_role("link", name="Role mapping")).to_be_visible()
    watch.check("test-signin-no-role")
    # The check history lists the test sign-in too.
    page.goto(story.connection_url)
    history = page.get_by_role("region", name="Check history")
    expect(history).to_contain_text("Test sign-in")
    watch.check("history-with-test-signin")

    # Two groups to roles, and a default role for people in neither.
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/mappings/"))
    watch.check("mappings-empty")
    for group, role in (("Engineering", "member"), ("IT-Admins", "admin")):
        page.get_by_label("IdP group").fill(group)
        page.get_by_label("Role", exact=True).select_option(role)
        page.get_by_role("button", name="Save mapping").click()
        expect(page.get_by_role("status")).to_contain_text(f'"{group}" now maps')
        watch.check(f"mapped-{group}")
    page.get_by_label("Default role").select_option("viewer")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("sign-in settings were saved")
    watch.check("mappings")
    doc_image(page.get_by_role("region", name="Group mappings"), "role-mapping")

    # The test sign-in again: the IdP session answers at once, the role is there.
    page.goto(story.connection_url)
    watch.check("connection-mapped")
    page.get_by_role("button", name="Test sign-in with the draft").click()
    result = page.get_by_role("region", name="Test sign-in result")
    expect(result).to_contain_text(f"{owner.email} would sign in as owner")
    claims = result.locator("dl.config")
    expect(claims).to_contain_text(owner.sub)
    expect(claims).to_contain_text(story.idp.path_issuer)
    expect(page.locator("h1 .badge")).to_have_text("Passed")
    watch.check("test-signin-passed")
    doc_image(result, "test-signin")

    # The irreversible switch, confirmed by typing the login path.
    page.goto(story.connection_url)
    expect(page.locator("#publish-blockers")).to_have_count(0)
    watch.check("ready-to-publish")
    page.get_by_role("link", name="Publish and enforce SSO").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Switch {ORG_NAME} to single sign-on"
    )
    # Who the switch affects: Carol's password stops working.
    affected = page.get_by_role("region", name="Who is affected")
    expect(affected).to_contain_text("1 member whose password stops working")
    expect(affected).to_contain_text(story.carol.email)
    page.get_by_label("Type the organization's login path to confirm").fill(LOGIN_PATH)
    watch.check("publish")
    doc_image(page.locator("main"), "publish")
    page.get_by_role("button", name="Publish and enforce SSO").click()
    expect(page.get_by_role("status").first).to_contain_text("SSO is enforced")
    expect(page.locator("h1")).to_contain_text("Live")
    expect(page.locator(".sidenav")).to_contain_text("SSO enforced")
    watch.check("enforced")
    # The audit log reads as sentences, not Python values.
    page.get_by_role("navigation", name=ORG_NAME).get_by_role(
        "link", name="Audit log"
    ).click()
    expect(page.get_by_role("main")).to_contain_text("Single sign-on enforced")
    expect(page.get_by_role("main")).to_contain_text("Domain verified")
    expect(page.get_by_role("main")).not_to_contain_text("{'")
    watch.check("audit-log")
    story.finished.add(1)


def test_invited_people_join_through_the_idp(story: Story, new_page):
    """Journey 2: Alice accepts from the email link and gets her invited role;
    Bob signs in email-first and gets his role from his group."""
    story.needs(1)
    page, watch = open_page(new_page, story, "2-owner")
    sign_in_with_password(page, watch, story, story.owner)
    expect_overview(page, watch, story, "owner", "overview")
    invite(page, watch, story, [story.alice.email, story.bob.email], "admin", "invite")

    alice_page, alice_watch = open_page(new_page, story, "2-alice")
    alice_page.goto(invitation_link(story, story.alice.email))
    # The link starts the organization's SSO with Alice's address filled in.
    expect(alice_page.get_by_label("Email")).to_have_value(story.alice.email)
    sign_in_at_idp(alice_page, alice_watch, story, story.alice, "idp")
    # In no mapped group: the invited role, not the default one.
    expect_overview(alice_page, alice_watch, story, "admin", "signed-in")

    bob_page, bob_watch = open_page(new_page, story, "2-bob")
    sign_in_email_first(bob_page, bob_watch, story, story.bob, "signin")
    # His group's mapping decides, whatever the invitation said.
    expect_overview(bob_page, bob_watch, story, "member", "signed-in")

    page.goto(story.url(f"/orgs/{LOGIN_PATH}/members/"))
    for person, role in ((story.alice, "Admin"), (story.bob, "Member")):
        row = member_row(page, person.email)
        expect(row.get_by_role("cell").nth(1)).to_have_text(role)
        expect(row.get_by_role("cell").nth(3)).to_have_text("Yes")  # managed by IdP
    watch.check("members")
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/invitations/?state=accepted"))
    expect(page.locator("tbody tr")).to_have_count(3)
    watch.check("invitations-accepted")
    story.finished.add(2)


def test_members_are_sent_to_sso_while_the_owner_keeps_a_password(
    story: Story, new_page
):
    """Journey 3: Carol's password no longer opens the console; the owner's does."""
    story.needs(1)
    page, watch = open_page(new_page, story, "3-carol")
    sign_in_with_password(page, watch, story, story.carol)
    expect(page.get_by_role("alert")).to_contain_text(
        f"{ORG_NAME} requires single sign-on"
    )
    expect_error_status(page, watch, 400)
    watch.check("password-refused")
    page.get_by_role("link", name=f"Sign in to {ORG_NAME} with SSO").click()
    sign_in_at_idp(page, watch, story, story.carol, "idp")
    # Engineering maps to member: the role now comes from the IdP.
    expect_overview(page, watch, story, "member", "signed-in")
    expect(page.get_by_role("region", name="Your organizations")).to_contain_text(
        "Your identity provider"
    )
    # A member has no management pages: a sentence, not the page.
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/domains/"))
    expect(page.get_by_role("main")).to_contain_text("does not allow this")
    expect_error_status(page, watch, 403)
    watch.check("domains-forbidden")

    owner_page, owner_watch = open_page(new_page, story, "3-owner")
    sign_in_with_password(owner_page, owner_watch, story, story.owner)
    expect_overview(owner_page, owner_watch, story, "owner", "signed-in")
    owner_page.goto(story.url(f"/orgs/{LOGIN_PATH}/members/"))
    owner_watch.check("members")
    # Signing out lands on the email-first sign-in.
    owner_page.get_by_role("button", name="Sign out").click()
    expect(owner_page).to_have_url(story.url("/login/"))
    expect(owner_page.get_by_role("status")).to_contain_text("You are signed out")
    expect(owner_page.get_by_label("Work email")).to_be_visible()
    owner_watch.check("signed-out")
    story.finished.add(3)


def test_a_member_removed_from_their_idp_group_is_refused(story: Story, new_page):
    """Journey 4: only mapped groups may sign in; Bob leaves Engineering at the
    IdP and is refused at his next sign-in, with a reference the owner finds."""
    story.needs(1, 2)
    page, watch = open_page(new_page, story, "4-owner")
    sign_in_with_password(page, watch, story, story.owner)
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/mappings/"))
    watch.check("mappings")
    page.get_by_label("Only members of mapped groups may sign in").check()
    page.get_by_role("button", name="Save settings").click()
    # The impact preview: Alice, in no mapped group, would lose access.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Check the impact before saving"
    )
    expect(page.locator("[data-count=lose-access]")).to_have_text("1")
    expect(page.get_by_role("table", name="Would lose access")).to_contain_text(
        story.alice.email
    )
    watch.check("impact-preview")
    page.get_by_role("button", name="Confirm and save").click()
    expect(page.get_by_role("status")).to_contain_text("sign-in settings were saved")
    watch.check("only-mapped-groups")

    # The IdP admin removes Bob from his group.
    story.idp.set_groups(story.bob.sub, [])

    bob_page, bob_watch = open_page(new_page, story, "4-bob")
    sign_in_email_first(bob_page, bob_watch, story, story.bob, "signin")
    expect(bob_page.get_by_role("heading", level=1)).to_have_text(
        "Sign-in did not work"
    )
    expect(bob_page.get_by_role("alert")).to_contain_text("mapped group")
    reference = bob_page.locator("#sso-reference").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{10}", reference), reference
    expect_error_status(bob_page, bob_watch, 403)
    bob_watch.check("refused")
    doc_image(bob_page.locator("main section"), "signin-refused")

    # The owner sees who was refused and why, and Bob's membership is off.
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/members/"))
    expect(member_row(page, story.bob.email).get_by_role("cell").nth(4)).to_have_text(
        "Deactivated"
    )
    watch.check("members")
    page.goto(story.connection_url)
    event = page.get_by_role("row").filter(has_text=reference)
    expect(event.locator(".badge").first).to_have_text("Failure")
    expect(event.locator("code").first).to_have_text("role")
    expect(event).to_contain_text(story.bob.email)
    watch.check("signin-events")
    doc_image(
        page.get_by_role("region", name="Sign-ins").get_by_role("table"),
        "signin-events",
    )
    story.finished.add(4)


def test_signing_out_ends_the_idp_session_too(story: Story, new_page):
    """Journey 5: after signing out, the IdP asks for the password again."""
    story.needs(1)
    page, watch = open_page(new_page, story, "5-carol")
    before = idp_sessions_of(story, story.carol)
    sign_in_email_first(page, watch, story, story.carol, "signin")
    expect_overview(page, watch, story, "member", "signed-in")
    # Carol's session at the IdP from this browser (journey 3's is another).
    ours = idp_sessions_of(story, story.carol) - before
    assert len(ours) == 1, ours

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are signed out")
    expect(page.get_by_role("main")).to_contain_text(
        "signed out of this console and of your identity provider"
    )
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    watch.check("signed-out")
    assert not ours & idp_sessions_of(story, story.carol)

    # A new sign-in goes to the IdP's form again instead of straight through.
    page.goto(story.url(f"/sso/login/{LOGIN_PATH}/"))
    page.wait_for_url(f"{story.idp.origin}/**")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_empty()
    watch.check("idp-asks-again")
    story.finished.add(5)


def test_the_remaining_pages_fit_a_phone_and_pass_axe(story: Story, new_page):
    """Journey 6: the pages the story does not pass through, each checked like
    the others (desktop and 375 px, axe, no sideways scrolling)."""
    page, watch = open_page(new_page, story, "6-pages")
    for step, path, status in (
        ("root", "/", 200),  # lands on /login/
        ("password-reset", "/accounts/password-reset/", 200),
        ("invitation-unknown", "/invitations/not-a-real-token/", 404),
        ("not-found", "/no-such-page/", 404),
    ):
        page.goto(story.url(path))
        if status != 200:
            expect_error_status(page, watch, status)
        watch.check(step)
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")


def test_the_directory_deprovisions_a_signed_in_member_at_once(story: Story, new_page):
    """Journey 6: the owner creates a SCIM token; the IdP's directory sync
    provisions Carol and her group, then deactivates her: her open session
    ends on its next request, and SSO does not let her back in."""
    story.needs(1, 3)
    page, watch = open_page(new_page, story, "6-owner")
    sign_in_with_password(page, watch, story, story.owner)
    expect_overview(page, watch, story, "owner", "signed-in")
    page.get_by_role("link", name="Directory sync").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Directory sync")
    watch.check("directory")
    page.get_by_label("Token name").fill("Okta")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#scim-new-token").inner_text().strip()
    base = page.locator("#scim-base-url").inner_text().strip()
    assert token.startswith("scim_") and base == story.url(f"/scim/v2/{LOGIN_PATH}/")
    watch.check("token-created")
    # The guide shows where the base URL is, never a token.
    doc_image(
        page.get_by_role("region", name="SCIM connector base URL"), "directory-url"
    )

    carol_page, carol_watch = open_page(new_page, story, "6-carol")
    sign_in_email_first(carol_page, carol_watch, story, story.carol, "signin")
    expect_overview(carol_page, carol_watch, story, "member", "signed-in")

    scim = requests.Session()
    scim.headers.update(
        {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    )
    found = scim.get(
        base + "Users",
        params={"filter": f'userName eq "{story.carol.email}"', "count": "2"},
        timeout=10,
    )
    assert found.json()["totalResults"] == 0
    created = scim.post(
        base + "Users",
        json={"userName": story.carol.email, "active": True, "externalId": "00u-c"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    carol_id = created.json()["id"]
    group = scim.post(
        base + "Groups",
        json={"displayName": "Engineering", "members": [{"value": carol_id}]},
        timeout=10,
    )
    assert group.status_code == 201, group.text
    carol_page.reload()
    expect_overview(carol_page, carol_watch, story, "member", "still-signed-in")

    deactivated = scim.patch(
        base + f"Users/{carol_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        timeout=10,
    )
    assert deactivated.status_code == 200, deactivated.text

    # Her very next request is anonymous: sent to sign in.
    carol_page.reload()
    expect(carol_page).to_have_url(re.compile(r"/login/"))
    carol_watch.check("signed-out-by-directory")
    # And her IdP session cannot bring her back in.
    carol_page.goto(story.url(f"/sso/login/{LOGIN_PATH}/"))
    carol_page.wait_for_load_state()
    if carol_page.url.startswith(story.idp.origin):
        sign_in_at_idp(carol_page, carol_watch, story, story.carol, "idp-again")
    expect(carol_page.get_by_role("alert")).to_contain_text("user directory")
    expect_error_status(carol_page, carol_watch, 403)
    carol_watch.check("refused-by-directory")

    page.goto(story.url(f"/orgs/{LOGIN_PATH}/members/"))
    row = member_row(page, story.carol.email)
    expect(row.get_by_role("cell").nth(4)).to_have_text("Deactivated by the directory")
    watch.check("members")
    page.goto(story.url(f"/orgs/{LOGIN_PATH}/directory/"))
    expect(page.get_by_role("table", name="Last sync events")).to_contain_text(
        "directory.user_updated"
    )
    watch.check("sync-events")
    story.finished.add(6)
