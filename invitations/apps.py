from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = _("Invitations")

    def ready(self) -> None:
        from invitations.models import Invitation
        from organizations.overview import ChecklistStep, checklist_step_register

        checklist_step_register(
            ChecklistStep(
                order=50,
                label=_("Invite people"),
                hint=_("Invite your team by email."),
                url_name="invitation_list",
                done=lambda org: Invitation.objects.filter(organization=org).exists(),
            )
        )
