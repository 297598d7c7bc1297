"""Inviting many people at once: parsing and the per-address outcome."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from domains.models import Domain
from invitations.models import Invitation
from invitations.services import (
    MAX_ADDRESSES,
    email_normalize,
    parse_email_list,
    token_hash,
)
from organizations.errors import PermissionDenied, ServiceError
from organizations.models import AuditEvent, Organization
from tests.factories import make_member, make_user

from .conftest import tokens_in_outbox


def test_addresses_split_on_commas_semicolons_and_new_lines():
    raw = " a@acme.test, b@acme.test\nc@acme.test;d@acme.test\r\n\n ,  \n"
    assert parse_email_list(raw) == [
        "a@acme.test",
        "b@acme.test",
        "c@acme.test",
        "d@acme.test",
    ]


@pytest.mark.parametrize(
    ("entry", "email"),
    [
        ("Jane@ACME.test", "jane@acme.test"),
        ("Jane Doe <jane@acme.test>", "jane@acme.test"),
        ("jane", None),
        ("jane@", None),
        ("a@@acme.test", None),
        ("jane doe@acme.test", None),
        ("jane@acme", None),
        ("<>", None),
    ],
)
def test_each_entry_is_validated_on_its_own(entry, email):
    assert email_normalize(entry) == email


def test_one_batch_reports_every_kind_of_outcome(org, invite, issue):
    make_member(org, "member", user=make_user("member@acme.test"))
    pending, old_token = issue(org, "pending@acme.test")
    expired, _ = issue(org, "late@acme.test", expires_in=timedelta(days=-1))

    report = invite(
        "new@acme.test, NEW@acme.test\nnot-an-email\nmember@acme.test\n"
        "pending@acme.test; late@acme.test",
        role="viewer",
    )

    outcomes = [(o.entry, o.status) for o in report.outcomes]
    assert outcomes == [
        ("new@acme.test", "invited"),
        ("NEW@acme.test", "duplicate"),
        ("not-an-email", "refused"),
        ("member@acme.test", "member"),
        ("pending@acme.test", "resent"),
        ("late@acme.test", "resent"),
    ]
    assert report.outcomes[2].code == "address_invalid"
    assert "had expired" in report.outcomes[5].detail
    assert report.refused_entries == ["not-an-email"]

    assert Invitation.objects.filter(organization=org).count() == 3
    new = Invitation.objects.get(email="new@acme.test")
    assert new.role.slug == "viewer" and new.invited_by == org.owner
    pending.refresh_from_db()
    assert pending.token_hash != token_hash(old_token)
    assert pending.role.slug == "viewer"
    expired.refresh_from_db()
    assert expired.state == "pending"

    assert sorted(m.to[0] for m in mail.outbox) == [
        "late@acme.test",
        "new@acme.test",
        "pending@acme.test",
    ]
    actions = AuditEvent.objects.filter(action__startswith="invitation.")
    assert sorted(actions.values_list("action", flat=True)) == [
        "invitation.created",
        "invitation.email_sent",
        "invitation.email_sent",
        "invitation.email_sent",
        "invitation.resent",
        "invitation.resent",
    ]


def test_a_deactivated_member_can_be_invited_again(org, invite):
    make_member(org, "member", user=make_user("back@acme.test"), is_active=False)
    (outcome,) = invite("back@acme.test").outcomes
    assert outcome.status == "invited"


def test_more_than_200_addresses_are_refused_and_nothing_is_sent(org, invite):
    emails = "\n".join(f"p{i}@acme.test" for i in range(MAX_ADDRESSES + 1))
    with pytest.raises(ServiceError) as refused:
        invite(emails)
    assert refused.value.code == "too_many_addresses"
    assert not Invitation.objects.exists() and mail.outbox == []


def test_200_addresses_with_duplicates_are_accepted(org, invite):
    emails = [f"p{i}@acme.test" for i in range(MAX_ADDRESSES)]
    report = invite("\n".join(emails + emails[:5]))
    assert report.invited_count == 200 and report.duplicate_count == 5
    assert len(mail.outbox) == 200


def test_an_empty_list_is_refused(org, invite):
    with pytest.raises(ServiceError) as refused:
        invite(" ,\n ")
    assert refused.value.code == "addresses_missing"


def verify(org, name):
    Domain.objects.create(organization=org, name=name, token="t", status="verified")


def test_outside_verified_domains_is_a_warning_before_sso_is_enforced(org, invite):
    verify(org, "acme.test")
    inside, outside = invite("a@acme.test, b@gmail.test").outcomes
    assert inside.status == "invited" and inside.warning == ""
    assert outside.status == "invited"
    assert "gmail.test is not one of your verified domains" in outside.warning


def test_outside_verified_domains_is_refused_once_sso_is_enforced(
    org, invite, owner_membership
):
    verify(org, "acme.test")
    Domain.objects.create(organization=org, name="pending.test", token="t")
    Organization.objects.filter(pk=org.pk).update(sso_enforced=True)
    owner_membership.organization.refresh_from_db()

    inside, outside, unverified = invite(
        "a@acme.test, b@gmail.test, c@pending.test"
    ).outcomes

    assert inside.status == "invited"
    assert (outside.status, outside.code) == ("refused", "domain_not_verified")
    assert (unverified.status, unverified.code) == ("refused", "domain_not_verified")
    assert list(Invitation.objects.values_list("email", flat=True)) == ["a@acme.test"]


def test_the_owner_role_is_never_given_by_invitation(org, invite):
    with pytest.raises(ServiceError) as refused:
        invite("a@acme.test", role="owner")
    assert refused.value.code == "owner_not_grantable"


def test_members_cannot_invite(org, invite):
    member = make_member(org, "member")
    with pytest.raises(PermissionDenied) as refused:
        invite("a@acme.test", actor=member)
    assert refused.value.code == "role_not_allowed"


def test_an_admin_may_invite_admins_but_is_not_offered_owner(client, org):
    admin = make_member(org, "admin")
    client.force_login(admin.user)
    url = reverse("invitation_list", args=["acme"])
    page = client.get(url).content.decode()
    assert 'value="admin"' in page and 'value="owner"' not in page

    response = client.post(url, {"emails": "a@acme.test", "role": "admin"})
    assert response.status_code == 200
    assert Invitation.objects.get(email="a@acme.test").role.slug == "admin"


def test_the_page_reports_each_address_and_keeps_the_refused_ones(
    owner_client, org, django_capture_on_commit_callbacks
):
    url = reverse("invitation_list", args=["acme"])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            url, {"emails": "ok@acme.test\nbroken@\nok@acme.test", "role": "member"}
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 invited" in html and "1 refused" in html and "1 duplicate" in html
    assert "Already invited (re-sent)" not in html
    assert "&quot;broken@&quot; is not a valid email address" in html
    textarea = html.split('name="emails"', 1)[1].split("</textarea>", 1)[0]
    assert "broken@" in textarea and "ok@acme.test" not in textarea
    assert tokens_in_outbox("ok@acme.test")


def test_a_bad_form_is_a_400_with_a_sentence(owner_client, org):
    url = reverse("invitation_list", args=["acme"])
    response = owner_client.post(url, {"emails": "", "role": "member"})
    assert response.status_code == 400
    assert "Paste at least one email address" in response.content.decode()
    response = owner_client.post(url, {"emails": "a@acme.test", "role": "owner"})
    assert response.status_code == 400
    assert "owner role is" in response.content.decode()


def test_viewers_neither_see_the_list_nor_invite(client, org):
    viewer = make_member(org, "viewer")
    client.force_login(viewer.user)
    url = reverse("invitation_list", args=["acme"])
    # Issue 20: members and viewers get their home page, not this one.
    assert client.get(url).status_code == 403
    response = client.post(url, {"emails": "a@acme.test", "role": "viewer"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()
