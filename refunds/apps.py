from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RefundsConfig(AppConfig):
    name = "refunds"
    verbose_name = _("Refunds")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The back-office may not import refunds, so refunds hands it the executors of its approval kinds.
        from backoffice.models import Approval
        from backoffice.services.approvals import approval_executor_register

        from .services.late_claims import LATE_CLAIM_EXECUTOR

        approval_executor_register(Approval.Kind.LATE_CLAIM, LATE_CLAIM_EXECUTOR)
