from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DomainsConfig(AppConfig):
    name = "domains"
    verbose_name = _("Verified domains")

    def ready(self) -> None:
        from domains.models import Domain
        from domains.services import (
            DOMAIN_FAILED_EMAIL_KIND,
            domain_failed_email_wanted,
        )
        from organizations.mail import email_kind_register
        from organizations.overview import ChecklistStep, checklist_step_register

        checklist_step_register(
            ChecklistStep(
                order=10,
                label=_("Verify an email domain"),
                hint=_("Prove you own the domain your people's emails use."),
                url_name="domain_list",
                done=lambda org: Domain.objects.filter(
                    organization=org, status=Domain.Status.VERIFIED
                ).exists(),
                perm="domains.manage",
            )
        )
        email_kind_register(
            DOMAIN_FAILED_EMAIL_KIND, still_wanted=domain_failed_email_wanted
        )
