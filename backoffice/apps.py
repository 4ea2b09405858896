from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = _("Back-office")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from wallet.services.first_factor import first_factor_blocker_register

        from .selectors.cases import first_factor_blocked_by_case

        # A13: the wallet cannot see fraud cases (imports flow one way), so the back-office tells it.
        first_factor_blocker_register(first_factor_blocked_by_case)
