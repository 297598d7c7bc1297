from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("People and password sign-in")

    def ready(self) -> None:
        import accounts.sessions  # noqa: F401  (connects the sign-in/out receivers)
        from accounts.services import (
            EMAIL_PROOF_KIND,
            SIGNUP_LINK_KIND,
            SIGNUP_NOTICE_KIND,
            email_proof_email_sent,
            email_proof_email_wanted,
            signup_link_email_sent,
            signup_link_email_wanted,
            signup_notice_email_sent,
            signup_notice_email_wanted,
        )
        from organizations.mail import email_kind_register

        email_kind_register(
            EMAIL_PROOF_KIND,
            still_wanted=email_proof_email_wanted,
            on_sent=email_proof_email_sent,
        )
        email_kind_register(
            SIGNUP_LINK_KIND,
            still_wanted=signup_link_email_wanted,
            on_sent=signup_link_email_sent,
        )
        email_kind_register(
            SIGNUP_NOTICE_KIND,
            still_wanted=signup_notice_email_wanted,
            on_sent=signup_notice_email_sent,
        )
