"""One journey per provider shape, in Chromium, against the whole stack.

The session's ``oidc-provider`` (tests/idp/server.mjs) plays three providers:

* **Microsoft Entra ID**: the tenant issuer ``/<tenant-id>/v2.0``; ID tokens
  carry ``tid``, ``oid``, ``preferred_username`` and group object IDs, and no
  ``email`` or ``email_verified``;
* **Google Workspace**: ``hd`` and no groups;
* **an Okta custom authorization server** (``/oauth2/default``) that serves
  the groups from UserInfo only.

For each, an owner (made directly in the test database, with a verified
domain) connects the provider from the console, chooses it on the form, runs
the check, maps a group, test-signs-in, publishes, and a member signs in with
the right role. With UPDATE_DOCS_SCREENSHOTS=1 the run refreshes the images of
docs/entra-setup.md, docs/google-setup.md and docs/okta-setup.md.

Run: DATABASE_URL=postgres://... CACHE_URL=redis://... CELERY_BROKER_URL=redis://...
E2E_REQUIRED=1 pytest tests/e2e (or `make e2e`).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from domains.models import Domain
from organizations.models import Organization
from tests.e2e.test_journeys import (
    LIVE_TIMEOUT_MS,
    Person,
    doc_image,
    expect,
    open_page,
)
from tests.fixtures.e2e import ROOT

CLIENT_SECRET = "e2e-provider-secret-" + "y" * 24
ENGINEERING_GUID = "a1b2c3d4-0000-4000-8000-00000000e001"


@dataclass(frozen=True)
class Shape:
    """One provider's journey: what the owner types and who signs in."""

    provider: str  # the form's value
    label: str  # the form's option text
    login_path: str
    domain: str
    client_id: str
    group: str | None  # mapped to ``role`` on the mapping page
    role: str  # the member's role after sign-in
    doc: str  # the docs/img/ prefix


SHAPES = {
    "entra": Shape(
        "entra",
        "Microsoft Entra ID",
        "contoso",
        "contoso.example",
        "11111111-e2e0-4000-8000-00000000c0de",
        ENGINEERING_GUID,
        "admin",
        "entra",
    ),
    "google": Shape(
        "google",
        "Google Workspace",
        "fabrikam",
        "fabrikam.example",
        "1234-e2e.apps.googleusercontent.com",
        None,
        "member",
        "google",
    ),
    "okta": Shape(
        "okta",
        "Okta",
        "initech",
        "initech.example",
        "0oa-e2e-custom-server",
        "Engineering",
        "admin",
        "okta-custom",
    ),
}


def issuer_of(shape: Shape, idp: Any) -> str:
    return {
        "entra": idp.entra_issuer,
        "google": idp.issuer,
        "okta": idp.path_issuer,
    }[shape.provider]


def add_idp_account(shape: Shape, idp: Any, person: Person, oid: str) -> None:
    """The person as this provider sends them."""
    if shape.provider == "entra":
        idp.add_account(
            person.sub,
            person.email,
            groups=person.groups,
            password=person.idp_password,
            omit=["email"],  # Entra work accounts often have no mail attribute
            claims={"tid": idp.entra_tenant, "oid": oid},
        )
    elif shape.provider == "google":
        idp.add_account(
            person.sub,
            person.email,
            groups=None,
            password=person.idp_password,
            claims={"hd": shape.domain},
        )
    else:
        idp.add_account(
            person.sub,
            person.email,
            groups=person.groups,
            password=person.idp_password,
            userinfo_only=["groups"],
        )


@pytest.fixture(scope="module")
def provider_stack(e2e_stack):
    """The session's stack with the IdP emptied of other tests' clients."""
    e2e_stack.idp.reset()
    return e2e_stack


def sign_in_at(page: Any, watch: Any, stack: Any, person: Person, step: str):
    page.wait_for_url(f"{stack.idp.origin}/**")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    watch.check(step)
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.idp_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{stack.base_url}/**")


@pytest.mark.parametrize("key", ["entra", "google", "okta"])
def test_owner_connects_the_provider_and_a_member_signs_in(
    provider_stack, new_page, key
):
    shape = SHAPES[key]
    stack = provider_stack
    idp = stack.idp
    groups = (shape.group,) if shape.group else ()
    owner = Person(f"owner@{shape.domain}", f"{key}-owner", groups)
    member = Person(f"dana@{shape.domain}", f"{key}-dana", groups)
    # The operator's command, in the stack's environment: the password is
    # hashed the way gunicorn checks it (the tests' own hasher is a fast one).
    subprocess.run(  # noqa: S603 (our own command, fixed arguments)
        [
            sys.executable,
            "manage.py",
            "create_org",
            "--name",
            shape.label + " Co",
            "--login-path",
            shape.login_path,
            "--owner-email",
            owner.email,
            "--owner-password",
            owner.password,
        ],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    org = Organization.objects.get(login_path=shape.login_path)
    Domain.objects.create(
        organization=org,
        name=shape.domain,
        token=f"token-{shape.domain}",
        status=Domain.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    add_idp_account(shape, idp, owner, "0c2e9b7a-1111-4c2a-9e8f-0000000000a1")
    add_idp_account(shape, idp, member, "0c2e9b7a-1111-4c2a-9e8f-0000000000a2")
    base = f"/orgs/{shape.login_path}"

    page, watch = open_page(new_page, _story(stack), f"p-{key}-owner")
    page.goto(stack.base_url + "/accounts/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(owner.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(stack.base_url + base + "/")

    # The connection: the owner chooses the provider; nothing is guessed.
    page.goto(stack.base_url + base + "/connections/new/")
    page.get_by_label("Name").fill(shape.label)
    page.get_by_label("Provider").select_option(shape.provider)
    page.get_by_label("Issuer URL").fill(issuer_of(shape, idp))
    page.get_by_label("Client ID").fill(shape.client_id)
    page.get_by_label("Client secret", exact=True).fill(CLIENT_SECRET)
    watch.check("connection-form")
    doc_image(page.locator("main section.card"), f"{shape.doc}-connection-form")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(shape.label)
    connection_url = page.url
    trust = page.get_by_role("region", name=f"How sign-in trusts {shape.label}")
    expect(trust).to_be_visible()
    watch.check("connection-draft")
    doc_image(trust, f"{shape.doc}-trust-rule")
    uris = page.get_by_role("region", name="Enter these in your IdP app")
    redirect_uri = uris.locator("#uri-redirect").inner_text().strip()
    idp.add_client(shape.client_id, CLIENT_SECRET, redirect_uris=[redirect_uri])

    # The check, with this provider's steps.
    page.get_by_role("button", name="Test configuration").click()
    expect(page.locator("h1 .badge")).to_have_text("Passed", timeout=LIVE_TIMEOUT_MS)
    steps = page.locator("ol.steps > li")
    expect(steps).to_have_count(8)
    expect(steps.locator(".badge").filter(has_text="Failed")).to_have_count(0)
    watch.check("check-passed")
    doc_image(page.get_by_role("region", name="Steps"), f"{shape.doc}-check")

    # The mapping: Entra's group object ID, Okta's group name; Google sends
    # no groups, so everyone gets the default role.
    page.goto(stack.base_url + base + "/mappings/")
    if shape.group:
        page.get_by_label("IdP group").fill(shape.group)
        page.get_by_label("Role", exact=True).select_option(shape.role)
        page.get_by_role("button", name="Save mapping").click()
        expect(page.get_by_role("status")).to_contain_text("now maps")
    page.get_by_label("Default role").select_option("member")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("sign-in settings were saved")
    watch.check("mappings")

    # The owner's test sign-in of the draft.
    page.goto(connection_url)
    page.get_by_role("button", name="Test sign-in with the draft").click()
    sign_in_at(page, watch, stack, owner, "test-signin-idp")
    result = page.get_by_role("region", name="Test sign-in result")
    expect(result).to_contain_text(f"{owner.email} would sign in as owner")
    expect(page.locator("h1 .badge")).to_have_text("Passed")
    watch.check("test-signin")
    doc_image(result, f"{shape.doc}-test-signin")

    # Publish: the irreversible switch.
    page.goto(connection_url)
    page.get_by_role("link", name="Publish and enforce SSO").click()
    page.get_by_label("Type the organization's login path to confirm").fill(
        shape.login_path
    )
    page.get_by_role("button", name="Publish and enforce SSO").click()
    expect(page.get_by_role("status").first).to_contain_text("SSO is enforced")
    watch.check("enforced")

    # A member signs in through the organization's login URI.
    member_page, member_watch = open_page(new_page, _story(stack), f"p-{key}-dana")
    member_page.goto(stack.base_url + f"/sso/login/{shape.login_path}/")
    sign_in_at(member_page, member_watch, stack, member, "idp")
    expect(member_page).to_have_url(stack.base_url + base + "/")
    # Owners and admins see the set-up checklist; members and viewers a home.
    lead = member_page.locator("p.lead")
    if shape.role in ("owner", "admin"):
        expect(lead).to_contain_text(f"your role: {shape.role}")
    else:
        expect(lead).to_contain_text(f"You are a {shape.role.capitalize()} of")
    member_watch.check("signed-in")


@dataclass
class _StoryLike:
    """What ``open_page`` reads of a story: the IdP."""

    idp: Any


def _story(stack: Any) -> Any:
    return _StoryLike(stack.idp)
