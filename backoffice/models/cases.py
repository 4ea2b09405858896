from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Case(models.Model):
    """One fraud case per affected customer: the transactions, a status pipeline
    with a history row per change (``CaseEvent``), notes, and the freezes and
    compensation that hang off it. At most one open case per customer, so the
    review queue, a hunt and a customer report all join the same case.
    """

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("case status", "Open")
        INVESTIGATING = "investigating", _("Investigating")
        CONFIRMED = "confirmed", _("Fraud confirmed")
        COMPENSATING = "compensating", _("Compensation requested")
        COMPENSATED = "compensated", _("Compensated")
        CLOSED = "closed", pgettext_lazy("case status", "Closed")
        NOT_FRAUD = "not_fraud", _("Closed: not fraud")

    class Source(models.TextChoices):
        REVIEW = "review", _("Review queue")
        REPORT = "report", _("Customer report")
        HUNT = "hunt", _("Look-back hunt")
        MANUAL = "manual", _("Opened by staff")

    # Allowed moves of the pipeline; anything else is refused by ``case_status_set``.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        "open": ("investigating", "confirmed", "not_fraud"),
        "investigating": ("confirmed", "not_fraud"),
        "confirmed": ("compensating", "closed", "investigating"),
        "compensating": ("compensated", "confirmed"),
        "compensated": ("closed",),
        "closed": ("investigating",),
        "not_fraud": ("investigating",),
    }
    OPEN_STATUSES = ("open", "investigating", "confirmed", "compensating", "compensated")

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fraud_cases", verbose_name=_("customer"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    source = models.CharField(_("opened from"), max_length=10, choices=Source.choices)
    summary = models.TextField(_("summary"), blank=True)
    hunt = models.ForeignKey(
        "backoffice.Hunt", null=True, blank=True, on_delete=models.PROTECT, related_name="cases", verbose_name=_("hunt")
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_cases",
        verbose_name=_("assigned to"),
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("opened by")
    )
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "opened_at"])]
        permissions = [("work_reviewqueue", "Can approve, reject or mark items of the review queue as fraud")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status__in=["open", "investigating", "confirmed", "compensating", "compensated"]),
                name="case_one_open_per_customer",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, ())


class CaseTransaction(models.Model):
    """A transaction of the customer's that the case says is fraudulent (or suspect).

    Points at the ledger ``Transfer``; the top-up or payment behind it is kept for
    display and for choosing how to compensate (a card top-up is refunded to the card).
    """

    class Kind(models.TextChoices):
        TOPUP = "topup", _("Top-up")
        PAYMENT = "payment", _("Store payment")
        OTHER = "other", _("Other")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="transactions", verbose_name=_("case"))
    transfer = models.ForeignKey("wallet.Transfer", on_delete=models.PROTECT, related_name="+", verbose_name=_("transaction"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    topup = models.ForeignKey("wallet.TopUp", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey("wallet.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount_yen = models.BigIntegerField(_("amount (yen)"))
    occurred_at = models.DateTimeField(_("occurred at"))
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("case transaction")
        verbose_name_plural = _("case transactions")
        ordering = ["occurred_at", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "transfer"], name="case_transaction_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ¥{self.amount_yen:,} ({self.occurred_at:%Y-%m-%d %H:%M})"


class CaseEvent(models.Model):
    """History of a case: one row per status change, note, link or action. Append-only by convention."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events", verbose_name=_("case"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.kind}"
