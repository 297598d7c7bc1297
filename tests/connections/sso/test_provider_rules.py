"""Each provider's trust rules, with hand-made ID tokens from the fake IdP.

Every rule of connections/oidc/providers.py has a test here that fails when the
rule is removed: Entra's tenant (issuer and ``tid``), its identity key
(``tid`` + ``oid``, not the pairwise ``sub``), its email sources and
``xms_edov``; Google's hosted domain; ``email_verified`` for Okta and generic
OIDC; and no account is ever linked or created from an unverified address.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from connections.models import SsoIdentity
from rolemapping.models import Membership
from tests.factories import make_user

from .helpers import (
    assert_refused,
    callback,
    make_connection,
    map_group,
    new_draft,
    signed_in_user_id,
    start_login,
    verify_domain,
)

pytestmark = pytest.mark.django_db

TENANT = "3f6a5c1e-0b7d-4c2a-9e8f-1a2b3c4d5e6f"
OTHER_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OID = "0c2e9b7a-1111-4c2a-9e8f-00000000ada0"
GROUP_ENGINEERING = "a1b2c3d4-0000-4000-8000-00000000e001"


def sign_in(client, fake, login_path="acme", **claims):
    request = start_login(client, login_path)
    fake.next_id_token = fake.id_token(request["nonce"], **claims)
    return callback(client, fake.issuer, request["state"])


@pytest.fixture
def entra(acme, fake_idp):
    """The fake IdP shaped like Entra ID's tenant issuer, and Acme's live
    Entra connection to it."""
    fake_idp.issuer = f"{fake_idp.origin}/{TENANT}/v2.0"
    make_connection(acme, issuer=fake_idp.issuer, provider="entra")
    return fake_idp


def entra_claims(**changes):
    """An Entra work account's claims: no email_verified, tid and oid."""
    claims = {
        "email_verified": None,
        "tid": TENANT,
        "oid": OID,
        "sub": "pairwise-sub-app-1",
        "preferred_username": "ada@acme.test",
        "groups": [GROUP_ENGINEERING],
    }
    claims.update(changes)
    return claims


@pytest.fixture
def google(acme, fake_idp):
    make_connection(
        acme, issuer=fake_idp.issuer, provider="google", scopes="openid email profile"
    )
    return fake_idp


# ---------------------------------------------------------------- Entra ID


def test_entra_signs_in_without_email_verified_keyed_by_tenant_and_object_id(
    client, acme, entra
):
    map_group(acme, GROUP_ENGINEERING, "admin")

    response = sign_in(client, entra, **entra_claims())

    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert signed_in_user_id(client) == str(ada.pk)
    identity = SsoIdentity.objects.get(user=ada)
    assert identity.subject == f"{TENANT}:{OID}"
    membership = Membership.objects.get(user=ada, organization=acme)
    assert membership.role.slug == "admin"


def test_entra_re_created_app_registration_with_a_new_sub_is_the_same_person(
    client, acme, entra
):
    sign_in(Client(), entra, **entra_claims(sub="pairwise-sub-app-1"))

    response = sign_in(client, entra, **entra_claims(sub="pairwise-sub-app-2"))

    assert response.status_code == 302
    assert SsoIdentity.objects.count() == 1
    assert User.objects.filter(email="ada@acme.test").count() == 1


def test_entra_same_sub_with_another_object_id_is_another_person(client, acme, entra):
    sign_in(Client(), entra, **entra_claims(oid=OID))
    bob = entra_claims(
        oid="ffffffff-2222-4c2a-9e8f-00000000b0b0", email="bob@acme.test"
    )
    response = sign_in(client, entra, **bob)

    assert response.status_code == 302
    bob = User.objects.get(email="bob@acme.test")
    assert signed_in_user_id(client) == str(bob.pk)


def test_entra_token_from_another_tenant_is_refused(client, acme, entra):
    response = sign_in(client, entra, **entra_claims(tid=OTHER_TENANT))

    event = assert_refused(client, response, "entra_tenant")
    assert "tenant" in event.detail
    assert not User.objects.filter(email="ada@acme.test").exists()


def test_entra_token_without_tid_is_refused(client, acme, entra):
    response = sign_in(client, entra, **entra_claims(tid=None))

    assert_refused(client, response, "entra_tenant")


def test_entra_token_without_oid_is_refused(client, acme, entra):
    response = sign_in(client, entra, **entra_claims(oid=None))

    assert_refused(client, response, "entra_oid")


def test_entra_address_comes_from_email_before_preferred_username(client, acme, entra):
    verify_domain(acme, "corp.acme.test")
    response = sign_in(
        client,
        entra,
        **entra_claims(email="ada@corp.acme.test", preferred_username="ada@acme.test"),
    )

    assert response.status_code == 302
    assert User.objects.filter(email="ada@corp.acme.test").exists()


def test_entra_address_falls_back_to_upn(client, acme, entra):
    response = sign_in(
        client,
        entra,
        **entra_claims(email=None, preferred_username=None, upn="Ada@Acme.test"),
    )

    assert response.status_code == 302
    assert User.objects.filter(email="ada@acme.test").exists()


def test_entra_address_outside_the_verified_domains_is_refused(client, acme, entra):
    response = sign_in(
        client,
        entra,
        **entra_claims(email=None, preferred_username="ada@contoso.onmicrosoft.com"),
    )

    assert_refused(client, response, "email_domain")
    assert (
        not User.objects.exists()
        or not User.objects.filter(email="ada@contoso.onmicrosoft.com").exists()
    )


def test_entra_xms_edov_false_is_refused(client, acme, entra):
    response = sign_in(client, entra, **entra_claims(xms_edov=False))

    event = assert_refused(client, response, "email_edov")
    assert "xms_edov" in event.detail
    assert not User.objects.filter(email="ada@acme.test").exists()


def test_entra_xms_edov_true_is_accepted(client, acme, entra):
    response = sign_in(client, entra, **entra_claims(xms_edov=True))

    assert response.status_code == 302


def test_entra_never_links_an_existing_account_from_another_tenant(client, acme, entra):
    make_user("ada@acme.test", password=None)
    response = sign_in(client, entra, **entra_claims(tid=OTHER_TENANT))

    assert_refused(client, response, "entra_tenant")
    assert not SsoIdentity.objects.exists()


def test_entra_overage_without_graph_is_refused_with_the_entra_filter_advice(
    client, acme, entra
):
    map_group(acme, GROUP_ENGINEERING, "admin")
    overage = {
        "groups": None,
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {
            "src1": {"endpoint": "https://graph.windows.net/x/users/y/getMemberObjects"}
        },
    }

    response = sign_in(client, entra, **entra_claims(**overage))

    event = assert_refused(client, response, "role")
    assert "Groups assigned to the application" in event.detail


def _overage():
    return {
        "groups": None,
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {
            "src1": {"endpoint": "https://evil.example/users/y/getMemberObjects"}
        },
    }


@pytest.fixture
def entra_with_graph(acme, fake_idp):
    fake_idp.issuer = f"{fake_idp.origin}/{TENANT}/v2.0"
    make_connection(
        acme, issuer=fake_idp.issuer, provider="entra", groups_from_graph=True
    )
    return fake_idp


def test_entra_overage_is_resolved_through_graph_with_the_access_token(
    client, acme, entra_with_graph, fake_graph
):
    map_group(acme, GROUP_ENGINEERING, "admin")
    many = {f"00000000-0000-4000-8000-{n:012d}": f"Team {n}" for n in range(250)}
    fake_graph.add_groups(
        "fake-access-token", {**many, GROUP_ENGINEERING: "Engineering"}
    )

    response = sign_in(client, entra_with_graph, **entra_claims(**_overage()))

    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert Membership.objects.get(user=ada, organization=acme).role.slug == "admin"
    # 251 groups and a directory role in pages of 100: three requests, every
    # one to the configured Graph with the access token, never to the
    # endpoint the token named.
    assert len(fake_graph.requests) == 3
    assert {r.authorization for r in fake_graph.requests} == {
        "Bearer fake-access-token"
    }
    assert fake_graph.requests[0].query["$select"] == "id,displayName"


def test_graph_next_link_to_another_host_is_not_followed(
    client, acme, entra_with_graph, fake_graph
):
    fake_graph.page_size = 1
    fake_graph.next_link = "https://evil.example/v1.0/me/transitiveMemberOf"
    fake_graph.add_groups("fake-access-token", {GROUP_ENGINEERING: "Engineering"})

    response = sign_in(client, entra_with_graph, **entra_claims(**_overage()))

    event = assert_refused(client, response, "graph_groups")
    assert "another host" in event.detail
    assert len(fake_graph.requests) == 1


def test_graph_pages_are_bounded(client, acme, entra_with_graph, fake_graph, settings):
    settings.GRAPH_MAX_PAGES = 2
    fake_graph.page_size = 10
    fake_graph.add_groups(
        "fake-access-token",
        {f"00000000-0000-4000-8000-{n:012d}": "" for n in range(50)},
    )

    response = sign_in(client, entra_with_graph, **entra_claims(**_overage()))

    assert_refused(client, response, "graph_groups")
    assert len(fake_graph.requests) == 2


def test_graph_refusing_the_token_is_a_clear_refusal(
    client, acme, entra_with_graph, fake_graph
):
    response = sign_in(client, entra_with_graph, **entra_claims(**_overage()))

    event = assert_refused(client, response, "graph_groups")
    assert "GroupMember.Read.All" in event.detail


def test_the_provider_is_the_owners_choice_not_the_token_shape(client, acme, fake_idp):
    # An Okta connection gets an Entra-shaped token: Okta's rule applies.
    fake_idp.issuer = f"{fake_idp.origin}/{TENANT}/v2.0"
    make_connection(acme, issuer=fake_idp.issuer, provider="okta")
    # UserInfo is asked for the missing email_verified, and has none either.
    fake_idp.userinfo = {"sub": "pairwise-sub-app-1"}

    response = sign_in(client, fake_idp, **entra_claims())

    assert_refused(client, response, "email_verified")
    assert (
        not User.objects.exists()
        or not User.objects.filter(email="ada@acme.test").exists()
    )


# ---------------------------------------------------------------- Google


def test_google_workspace_account_of_a_verified_domain_signs_in(client, acme, google):
    response = sign_in(client, google, hd="acme.test", groups=None)

    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(email="ada@acme.test")
    assert Membership.objects.get(user=ada, organization=acme).role.slug == "member"


def test_google_consumer_account_without_hd_is_refused(client, acme, google):
    response = sign_in(client, google, groups=None)

    event = assert_refused(client, response, "google_hd")
    assert "consumer" in event.detail
    assert not User.objects.filter(email="ada@acme.test").exists()


def test_google_hosted_domain_not_verified_here_is_refused(client, acme, google):
    response = sign_in(client, google, hd="globex.test", groups=None)

    event = assert_refused(client, response, "google_hd")
    assert "globex.test" in event.detail


def test_google_unverified_email_is_refused(client, acme, google):
    response = sign_in(
        client, google, hd="acme.test", email_verified=False, groups=None
    )

    assert_refused(client, response, "email_verified")


# ---------------------------------------------------------------- Okta, OIDC


@pytest.mark.parametrize("provider", ["okta", "oidc"])
def test_okta_and_oidc_need_email_verified(client, acme, fake_idp, provider):
    make_connection(acme, issuer=fake_idp.issuer, provider=provider)
    make_user("ada@acme.test", password=None)

    response = sign_in(client, fake_idp, email_verified=False)

    assert_refused(client, response, "email_verified")
    assert not SsoIdentity.objects.exists()


@pytest.mark.parametrize("provider", ["okta", "oidc"])
def test_okta_and_oidc_ignore_entra_and_google_claims(client, acme, fake_idp, provider):
    make_connection(acme, issuer=fake_idp.issuer, provider=provider)

    response = sign_in(client, fake_idp, tid=OTHER_TENANT, xms_edov=False)

    assert response.status_code == 302
    assert SsoIdentity.objects.get().subject == "00u-ada"


def test_a_provider_change_applies_to_sign_ins_only_once_published(
    client, acme, google
):
    connection = acme.connections.get()
    # The owner switches the draft to generic OIDC (connection_update writes
    # a new draft with the new provider); the live configuration keeps
    # Google's rules until that draft is checked and published.
    new_draft(connection, provider="oidc", scopes="openid email profile")
    connection.provider = "oidc"
    connection.save(update_fields=["provider"])

    response = sign_in(client, google, groups=None)

    assert_refused(client, response, "google_hd")


def test_refused_people_read_what_to_do_in_their_providers_terms(client, acme, google):
    response = sign_in(client, google, groups=None)

    page = response.content.decode()
    assert "Sign in with your Acme Inc Google Workspace account" in page
    # The admins' detail stays in the sign-in event, not on the person's page.
    assert "consumer" not in page
