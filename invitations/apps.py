from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = _("Invitations")

    def ready(self) -> None:
        from invitations.models import Invitation
        from invitations.services import (
            EMAIL_KIND,
            invitation_email_sent,
            invitation_email_wanted,
        )
        from organizations.mail import email_kind_register
        from organizations.overview import ChecklistStep, checklist_step_register

        checklist_step_register(
            ChecklistStep(
                # After the switch: invitees then join through the IdP, and
                # nobody gets a password the switch would disable.
                order=70,
                label=_("Invite people"),
                hint=_(
                    "Invite your team by email: after the switch they join "
                    "through your IdP. Invited before it, they choose a "
                    "password that the switch disables."
                ),
                url_name="invitation_list",
                done=lambda org: Invitation.objects.filter(organization=org).exists(),
            )
        )
        email_kind_register(
            EMAIL_KIND,
            still_wanted=invitation_email_wanted,
            on_sent=invitation_email_sent,
        )
