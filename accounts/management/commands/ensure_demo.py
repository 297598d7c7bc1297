from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import user_email_prove
from organizations.models import Organization
from organizations.services import organization_create

DEMO_EMAIL = "owner@demo.example"
DEMO_PASSWORD = "demo-owner-password"
LOGIN_URL = "http://127.0.0.1:8000/accounts/login/"


class Command(BaseCommand):
    help = "Create a demo organization and owner when there is no organization."

    def handle(self, *args, **options):
        if not Organization.objects.exists():
            with transaction.atomic():
                owner = User.objects.create_user(
                    email=DEMO_EMAIL, password=DEMO_PASSWORD
                )
                user_email_prove(user=owner, via="operator")  # an operator made it
                organization_create(name="Demo Inc", login_path="demo", owner=owner)
            self.stdout.write(self.style.SUCCESS(_("Created the demo organization.")))
            self.stdout.write(
                _("Sign in at %(url)s as %(email)s with the password %(password)s")
                % {"url": LOGIN_URL, "email": DEMO_EMAIL, "password": DEMO_PASSWORD}
            )
        else:
            self.stdout.write(
                _(
                    "Organizations exist already; sign in at %(url)s (or create one "
                    "at %(signup)s)."
                )
                % {"url": LOGIN_URL, "signup": "/accounts/signup/"}
            )
