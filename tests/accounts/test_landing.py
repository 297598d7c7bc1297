"""Issue 20: the site root and signing out land on the email-first /login/."""

from django.urls import reverse


def test_the_site_root_sends_visitors_to_email_first_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"


def test_a_console_page_sends_visitors_to_email_first_sign_in(client, org):
    response = client.get("/orgs/acme/")
    assert response["Location"] == "/login/?next=/orgs/acme/"


def test_signing_out_lands_on_email_first_sign_in(owner_client):
    response = owner_client.post(reverse("sso_logout"))
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    page = owner_client.get(response["Location"])
    assert "You are signed out." in page.content.decode()


def test_the_password_sign_out_lands_there_too(owner_client):
    response = owner_client.post(reverse("logout"))
    assert response["Location"] == "/login/"
