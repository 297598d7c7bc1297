from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RolemappingConfig(AppConfig):
    name = "rolemapping"
    verbose_name = _("Roles and group mappings")

    def ready(self) -> None:
        from organizations.overview import ChecklistStep, checklist_step_register
        from organizations.signals import organization_created
        from rolemapping.models import GroupRoleMapping
        from rolemapping.services import roles_seed

        organization_created.connect(roles_seed, dispatch_uid="rolemapping.roles_seed")
        checklist_step_register(
            ChecklistStep(
                order=40,
                label=_("Map IdP groups to roles"),
                hint=_("Or choose a default role for everyone who signs in."),
                url_name="mappings",
                done=lambda org: (
                    bool(org.default_role)
                    or GroupRoleMapping.objects.filter(organization=org).exists()
                ),
            )
        )
