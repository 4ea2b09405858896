"""Freezes that stop money moving on one account, and customers' reports of
transactions they do not recognise. The back-office reads both; wallet services
honour every active freeze before they move money."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AccountFreezeQuerySet(models.QuerySet["AccountFreeze"]):
    def active(self) -> AccountFreezeQuerySet:
        now = timezone.now()
        return self.filter(lifted_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class AccountFreeze(models.Model):
    class Scope(models.TextChoices):
        ALL = "all", _("Everything (debits and credits)")
        DEBITS = "debits", _("Debits: payments and outgoing money")
        CREDITS = "credits", _("Credits: top-ups and incoming money")

    class Source(models.TextChoices):
        CUSTOMER = "customer", _("The customer locked their own wallet")
        STAFF = "staff", _("Staff")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="freezes")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    reason = models.TextField()
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = AccountFreezeQuerySet.as_manager()

    class Meta:
        verbose_name = _("account freeze")
        verbose_name_plural = _("account freezes")
        indexes = [models.Index(fields=["user", "lifted_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.scope} ({self.source})"

    @property
    def blocks_debits(self) -> bool:
        return self.scope in (self.Scope.ALL, self.Scope.DEBITS)

    @property
    def blocks_credits(self) -> bool:
        return self.scope in (self.Scope.ALL, self.Scope.CREDITS)

    def blocks(self, *, debit: bool) -> bool:
        """Whether this freeze stops money leaving (``debit``) or arriving at the wallet."""
        return self.blocks_debits if debit else self.blocks_credits


class TransactionReport(models.Model):
    """ "I don't recognise this": a customer's report on one of their transactions.

    Written by wallet, worked by the back-office review queue.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_REVIEW = "in_review", _("In review")
        CLOSED = "closed", pgettext_lazy("report status", "Closed")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transaction_reports")
    transfer = models.ForeignKey("wallet.Transfer", on_delete=models.PROTECT, related_name="reports")
    note = models.TextField(blank=True)
    wallet_locked = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("unrecognised-transaction report")
        verbose_name_plural = _("unrecognised-transaction reports")
        constraints = [models.UniqueConstraint(fields=["user", "transfer"], name="one_report_per_transaction")]

    def __str__(self) -> str:
        return f"report {self.pk} by {self.user}"
