from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = _("SSO connections")

    def ready(self) -> None:
        from connections import checks  # noqa: F401  (registers system checks)
        from connections.models import Connection, ConnectionCheck
        from connections.selectors import connections_failing_health
        from organizations.overview import (
            ChecklistStep,
            Panel,
            checklist_step_register,
            panel_register,
        )

        for step in (
            ChecklistStep(
                order=20,
                label=_("Add an SSO connection"),
                hint=_("Paste the issuer, client ID and secret from Okta."),
                url_name="connection_list",
                done=lambda org: Connection.objects.filter(organization=org).exists(),
                perm="connections.manage",
            ),
            ChecklistStep(
                order=30,
                label=_("Test the connection"),
                hint=_("A passing check is required before it can go live."),
                url_name="connection_list",
                done=lambda org: ConnectionCheck.objects.filter(
                    connection__organization=org,
                    kind=ConnectionCheck.Kind.CHECK,
                    status=ConnectionCheck.Status.PASSED,
                ).exists(),
                perm="connections.manage",
            ),
            ChecklistStep(
                order=35,
                label=_("Test sign-in with the draft"),
                hint=_(
                    "Sign in once through your IdP as yourself, on the "
                    "connection's page: the switch to SSO needs it."
                ),
                url_name="connection_list",
                done=lambda org: ConnectionCheck.objects.filter(
                    connection__organization=org,
                    kind=ConnectionCheck.Kind.TEST_SIGNIN,
                    status=ConnectionCheck.Status.PASSED,
                    created_by_id=org.owner_id,
                ).exists(),
                perm="connections.manage",
            ),
            ChecklistStep(
                order=60,
                label=_("Enforce SSO"),
                hint=_(
                    "The irreversible switch: everyone but the owner signs in "
                    "through your IdP."
                ),
                url_name="connection_list",
                done=lambda org: org.sso_enforced,
                perm="sso.enforce",
            ),
        ):
            checklist_step_register(step)
        panel_register(
            Panel(
                template="connections/_health.html",
                context=lambda org: {"health_alerts": connections_failing_health(org)},
            )
        )
        from connections.services.secret_expiry import (
            EXPIRY_EMAIL_KIND,
            expiry_sentence,
            secret_expiry_still_wanted,
            secrets_expiring,
        )
        from organizations.mail import email_kind_register

        panel_register(
            Panel(
                template="connections/_secret_expiry.html",
                context=lambda org: {
                    "secret_expiry_alerts": [
                        {"connection": e.connection, "sentence": expiry_sentence(e)}
                        for e in secrets_expiring(org)
                    ]
                },
            )
        )
        email_kind_register(EXPIRY_EMAIL_KIND, still_wanted=secret_expiry_still_wanted)
