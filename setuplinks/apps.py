from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SetupLinksConfig(AppConfig):
    name = "setuplinks"
    verbose_name = _("Setup links")

    def ready(self) -> None:
        from connections.delegates import delegate_resolver_register
        from setuplinks.services import setup_delegate_for_request

        # The SSO callback (connections) asks whether a test sign-in that
        # comes back still belongs to a usable setup link.
        delegate_resolver_register(setup_delegate_for_request)
