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
                order=50,
                label=_("Invite people"),
                hint=_(
                    "Invite your team by email. Before SSO is enforced, people "
                    "who accept choose a password that stops working at the "
                    "switch; after it, they join through your IdP."
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
