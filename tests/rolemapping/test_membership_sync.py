"""membership_sync and decision_for_signin: what every SSO sign-in does."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from invitations.models import Invitation
from organizations.access import SSO_SESSION_KEY
from organizations.models import AuditEvent, Organization
from rolemapping.models import Membership, Role
from rolemapping.services import decision_for_signin, membership_sync
from tests.factories import make_member, make_user


def decide(org, groups, claim="groups"):
    # Re-read the organization as the sign-in would: settings may have changed.
    org = Organization.objects.get(pk=org.pk)
    claims = {"sub": "s1", "email": "x@acme.test"}
    if groups is not None:
        claims[claim] = groups
    return decision_for_signin(organization=org, claims=claims, groups_claim=claim)


def set_settings(org, *, default=None, only_mapped=False):
    Organization.objects.filter(pk=org.pk).update(
        default_role=default or "", only_mapped_groups=only_mapped
    )


def sync(org, user, groups, **kwargs):
    return membership_sync(
        organization=org, user=user, decision=decide(org, groups), **kwargs
    )


def audits(org, action):
    return list(
        AuditEvent.objects.filter(organization=org, action=action).order_by("id")
    )


def test_first_signin_creates_a_managed_membership_with_the_mapped_role(org, map_group):
    map_group(org, "Engineering", "member")
    user = make_user("dev@acme.test")

    membership = sync(org, user, ["Engineering", "Everyone"])

    membership.refresh_from_db()
    assert membership.role.slug == "member"
    assert membership.source == Membership.Source.SSO
    assert membership.managed_by_idp is True
    assert membership.is_active is True
    assert membership.idp_groups == ["Engineering", "Everyone"]
    assert membership.last_sso_login_at is not None
    (event,) = audits(org, "membership.provisioned")
    assert event.target == "dev@acme.test"
    assert event.details["role"] == "member"
    assert event.details["matched_groups"] == ["Engineering"]


def test_role_follows_the_groups_on_the_next_signin_with_before_and_after(
    org, map_group
):
    map_group(org, "Engineering", "member")
    map_group(org, "Admins", "admin")
    user = make_user()
    sync(org, user, ["Engineering"])

    membership = sync(org, user, ["Engineering", "Admins"])
    assert membership.role.slug == "admin"
    assert Membership.objects.get(pk=membership.pk).idp_groups == [
        "Engineering",
        "Admins",
    ]

    membership = sync(org, user, ["Engineering"])
    assert Membership.objects.get(pk=membership.pk).role.slug == "member"
    changes = audits(org, "membership.role_changed")
    assert [(e.details["before"], e.details["after"]) for e in changes] == [
        ("member", "admin"),
        ("admin", "member"),
    ]
    assert all(e.details["by"] == "idp" for e in changes)


def test_an_unchanged_role_writes_no_role_audit(org, map_group):
    map_group(org, "Engineering", "member")
    user = make_user()
    sync(org, user, ["Engineering"])
    first = Membership.objects.get(user=user).last_sso_login_at

    sync(org, user, ["Engineering"])

    assert audits(org, "membership.role_changed") == []
    assert Membership.objects.get(user=user).last_sso_login_at >= first


def test_no_mapped_group_gives_the_default_role(org, map_group):
    map_group(org, "Admins", "admin")
    set_settings(org, default="viewer")
    membership = sync(org, make_user(), ["Sales"])
    assert membership.role.slug == "viewer"


def test_refusal_deactivates_the_membership_and_returns_none(org, map_group):
    map_group(org, "Engineering", "member")
    set_settings(org, default="viewer", only_mapped=True)
    user = make_user("gone@acme.test")
    sync(org, user, ["Engineering"])

    assert sync(org, user, ["Sales"]) is None

    membership = Membership.objects.get(user=user, organization=org)
    assert membership.is_active is False
    assert membership.idp_groups == ["Sales"]
    (event,) = audits(org, "membership.deactivated")
    assert event.target == "gone@acme.test"
    assert event.details["reason_code"] == "no_mapped_group"
    assert event.details["reason"]  # the sentence the person was shown


def test_a_refused_first_signin_creates_nothing(org):
    set_settings(org, default=None)
    user = make_user()
    assert sync(org, user, ["Sales"]) is None
    assert not Membership.objects.filter(user=user, organization=org).exists()


def test_an_overage_token_is_refused_and_deactivates(org, map_group, settings):
    settings.SSO_MAX_GROUPS = 5
    map_group(org, "g1", "member")
    user = make_user()
    sync(org, user, ["g1"])
    assert sync(org, user, [f"g{i}" for i in range(1, 10)]) is None
    assert Membership.objects.get(user=user).is_active is False


def test_deactivation_ends_the_members_open_sso_session(client, org, map_group):
    map_group(org, "Engineering", "member")
    set_settings(org, only_mapped=True)
    user = make_user()
    sync(org, user, ["Engineering"])
    client.force_login(user, backend="accounts.backends.EmailPasswordBackend")
    session = client.session
    session[SSO_SESSION_KEY] = [org.pk]
    session.save()
    assert client.get(reverse("me")).status_code == 200

    sync(org, user, ["Sales"])  # removed from the group at the IdP

    assert client.get(reverse("me")).status_code == 401


def test_groups_matching_again_reactivate_the_membership(org, map_group):
    map_group(org, "Engineering", "member")
    set_settings(org, only_mapped=True)
    user = make_user()
    sync(org, user, ["Engineering"])
    sync(org, user, [])

    membership = sync(org, user, ["Engineering"])

    assert membership.is_active is True
    assert len(audits(org, "membership.reactivated")) == 1


def test_the_owner_is_never_changed_by_the_idp(org, map_group):
    map_group(org, "Everyone", "viewer")
    set_settings(org, only_mapped=True)
    owner = org.owner

    membership = sync(org, owner, ["Everyone"])
    assert membership.role.slug == "owner"
    assert membership.managed_by_idp is False

    assert sync(org, owner, ["Nothing"]) is None
    membership = Membership.objects.get(user=owner, organization=org)
    assert membership.is_active is True
    assert membership.role.slug == "owner"
    assert audits(org, "membership.role_changed") == []
    assert audits(org, "membership.deactivated") == []


def test_a_member_managed_by_hand_becomes_managed_at_their_first_sso_signin(
    org, map_group
):
    map_group(org, "Engineering", "viewer")
    member = make_member(org, "admin")

    membership = sync(org, member.user, ["Engineering"])

    assert membership.managed_by_idp is True
    assert membership.role.slug == "viewer"
    assert len(audits(org, "membership.managed_by_idp")) == 1


def invite(org, email, role):
    return Invitation.objects.create(
        organization=org,
        email=email,
        role=Role.objects.get(organization=org, slug=role),
        token_hash=email.ljust(64, "0")[:64],
        expires_at=timezone.now() + timedelta(days=7),
    )


def test_the_invitation_role_applies_when_no_mapping_matches(org, map_group):
    set_settings(org, default="viewer")
    user = make_user("new@acme.test")
    invitation = invite(org, "new@acme.test", "admin")

    membership = sync(org, user, ["Sales"], invited_role=invitation.role.slug)

    assert membership.role.slug == "admin"
    assert membership.source == Membership.Source.INVITATION


def test_a_matching_mapping_wins_over_the_invitation_role(org, map_group):
    map_group(org, "Engineering", "viewer")
    user = make_user("new@acme.test")
    invitation = invite(org, "new@acme.test", "admin")

    membership = sync(org, user, ["Engineering"], invited_role=invitation.role.slug)

    assert membership.role.slug == "viewer"


def test_later_signins_keep_the_accepted_invitations_role_over_the_default(org):
    set_settings(org, default="viewer")
    user = make_user("new@acme.test")
    invitation = invite(org, "new@acme.test", "admin")
    sync(org, user, [], invited_role=invitation.role.slug)

    membership = sync(org, user, [])

    assert membership.role.slug == "admin"


def test_decision_for_signin_reads_a_custom_groups_claim(org, map_group):
    map_group(org, "ops", "admin")
    decision = decide(org, ["ops"], claim="roles")
    assert decision.allowed and decision.role == "admin"
    assert decide(org, None).groups_claim_status == "missing"


def _queries(func) -> int:
    with CaptureQueriesContext(connection) as ctx:
        func()
    return len(ctx)


def test_decision_query_count_is_the_same_for_10_and_500_groups(
    org, map_group, django_assert_num_queries
):
    for i in range(50):
        map_group(org, f"group-{i}", "member")
    set_settings(org, default="viewer")
    claims_10 = {"groups": [f"group-{i}" for i in range(10)]}
    claims_500 = {"groups": [f"group-{i}" for i in range(500)]}
    fresh = Organization.objects.get(pk=org.pk)
    again = Organization.objects.get(pk=org.pk)

    # The mappings alone: the default role is a slug on the organization's row.
    with django_assert_num_queries(1):
        d10 = decision_for_signin(
            organization=fresh, claims=claims_10, groups_claim="groups"
        )
    with django_assert_num_queries(1):
        d500 = decision_for_signin(
            organization=again, claims=claims_500, groups_claim="groups"
        )
    assert d10.role == d500.role == "member"
    assert len(d500.groups) == 500


def test_a_whole_signin_sync_costs_the_same_for_10_and_500_groups(org, map_group):
    for i in range(50):
        map_group(org, f"group-{i}", "member")
    user_10, user_500 = make_user(), make_user()
    groups_10 = [f"group-{i}" for i in range(10)]
    groups_500 = [f"group-{i}" for i in range(500)]
    # First sign-ins create; second ones update: compare like with like.
    for groups_user in ((groups_10, user_10), (groups_500, user_500)):
        sync(org, groups_user[1], groups_user[0])
    assert _queries(lambda: sync(org, user_10, groups_10)) == _queries(
        lambda: sync(org, user_500, groups_500)
    )
