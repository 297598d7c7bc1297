import secrets

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import user_email_prove, user_validate_email_free
from organizations.errors import ServiceError
from organizations.services import organization_create


class Command(BaseCommand):
    help = "Create an organization and its owner."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--login-path", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument(
            "--owner-password",
            help="The owner's password; a random one is generated and printed "
            "when omitted.",
        )

    def handle(self, *args, **options):
        password = options["owner_password"] or secrets.token_urlsafe(12)
        try:
            with transaction.atomic():
                email = user_validate_email_free(options["owner_email"])
                owner = User.objects.create_user(email=email, password=password)
                # An operator made it: its address counts as proven.
                user_email_prove(user=owner, via="operator")
                org = organization_create(
                    name=options["name"],
                    login_path=options["login_path"],
                    owner=owner,
                )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                _("Created %(name)s (/orgs/%(login_path)s/).")
                % {"name": org.name, "login_path": org.login_path}
            )
        )
        self.stdout.write(_("Owner: %(email)s") % {"email": owner.email})
        if not options["owner_password"]:
            self.stdout.write(_("Password: %(password)s") % {"password": password})
