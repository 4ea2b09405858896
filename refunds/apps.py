from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RefundsConfig(AppConfig):
    name = "refunds"
    verbose_name = _("Refunds")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The back-office and the wallet may not import refunds, so refunds hands them what they run for it:
        # the executors of its approval kinds and the link builders of its mails.
        from .services import contact, late_claims, payouts

        for module in (late_claims, payouts, contact):
            module.register()
