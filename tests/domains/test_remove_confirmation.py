"""Issue 20: removing a verified domain asks first; a pending one goes at once."""

from domains.models import Domain
from organizations.models import AuditEvent


def delete_url(domain):
    return f"/orgs/acme/domains/{domain.pk}/delete/"


def make_domain(org, status):
    return Domain.objects.create(
        organization=org, name="acme.test", token="t", status=status
    )


def test_removing_a_verified_domain_shows_a_confirmation_first(owner_client, org):
    domain = make_domain(org, Domain.Status.VERIFIED)

    page = owner_client.post(delete_url(domain))

    assert page.status_code == 200
    body = page.content.decode()
    assert "Remove the verified domain acme.test?" in body
    assert 'name="confirm" value="yes"' in body
    assert Domain.objects.filter(pk=domain.pk).exists()
    assert not AuditEvent.objects.filter(action="domain.removed").exists()


def test_the_confirmation_removes_it(owner_client, org):
    domain = make_domain(org, Domain.Status.VERIFIED)

    response = owner_client.post(delete_url(domain), {"confirm": "yes"})

    assert response.status_code == 302
    assert not Domain.objects.filter(pk=domain.pk).exists()
    assert AuditEvent.objects.filter(action="domain.removed").exists()


def test_a_pending_domain_is_removed_without_a_question(owner_client, org):
    domain = make_domain(org, Domain.Status.PENDING)
    response = owner_client.post(delete_url(domain))
    assert response.status_code == 302
    assert not Domain.objects.filter(pk=domain.pk).exists()


def test_scripts_remove_a_verified_domain_at_once(owner_client, org):
    domain = make_domain(org, Domain.Status.VERIFIED)
    response = owner_client.post(delete_url(domain), HTTP_ACCEPT="application/json")
    assert response.status_code == 204
    assert not Domain.objects.filter(pk=domain.pk).exists()


def test_the_confirmation_page_is_the_owners_only(client, org, member_factory):
    from tests.conftest import client_for

    domain = make_domain(org, Domain.Status.VERIFIED)
    admin = member_factory(org, "admin")
    response = client_for(client, admin).get(delete_url(domain))
    assert response.status_code == 403
    assert Domain.objects.filter(pk=domain.pk).exists()
