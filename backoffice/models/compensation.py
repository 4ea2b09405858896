from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Compensation(models.Model):
    """Money given back for one fraudulent transaction of a case.

    At most one live compensation per fraudulent transfer: the partial unique
    constraint ``compensation_once_per_transaction`` holds even when two approvals
    race, and a rejected or failed row does not block a new request.
    """

    class Method(models.TextChoices):
        LEDGER = "ledger", _("Credit to the wallet")
        CARD_REFUND = "card_refund", _("Refund to the card")

    class State(models.TextChoices):
        REQUESTED = "requested", _("Waiting for approval")
        PAID = "paid", _("Paid")
        REJECTED = "rejected", pgettext_lazy("compensation state", "Rejected")
        FAILED = "failed", pgettext_lazy("compensation state", "Failed")

    LIVE_STATES = ("requested", "paid")

    case = models.ForeignKey("backoffice.Case", on_delete=models.PROTECT, related_name="compensations", verbose_name=_("case"))
    fraud_transfer = models.ForeignKey(
        "wallet.Transfer", on_delete=models.PROTECT, related_name="+", verbose_name=_("fraudulent transaction")
    )
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    method = models.CharField(_("method"), max_length=12, choices=Method.choices)
    amount_yen = models.BigIntegerField(_("amount (yen)"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    approval = models.ForeignKey("backoffice.Approval", null=True, blank=True, on_delete=models.PROTECT, related_name="compensations")
    # The ledger transfer that paid it (both methods post one), and the gateway's refund id for a card refund.
    paid_transfer = models.OneToOneField("wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    gateway_refund_id = models.CharField(max_length=64, blank=True)
    failure = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    class Meta:
        verbose_name = _("compensation")
        verbose_name_plural = _("compensations")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fraud_transfer"], condition=Q(state__in=["requested", "paid"]), name="compensation_once_per_transaction"
            ),
            models.CheckConstraint(condition=Q(amount_yen__gt=0), name="compensation_amount_positive"),
        ]
        indexes = [models.Index(fields=["state", "paid_at"])]
        permissions = [("report_compensation", "Can read and export the compensation totals for the regulator")]

    def __str__(self) -> str:
        return f"#{self.pk} ¥{self.amount_yen:,} {self.get_method_display()} ({self.get_state_display()})"
