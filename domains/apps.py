from django.apps import AppConfig


class DomainsConfig(AppConfig):
    name = "domains"
    verbose_name = "Verified domains"

    def ready(self) -> None:
        from domains.models import Domain
        from organizations.overview import ChecklistStep, checklist_step_register

        checklist_step_register(
            ChecklistStep(
                order=10,
                label="Verify an email domain",
                hint="Prove you own the domain your people's emails use.",
                url_name="domain_list",
                done=lambda org: Domain.objects.filter(
                    organization=org, status=Domain.Status.VERIFIED
                ).exists(),
            )
        )
