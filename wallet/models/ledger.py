"""The double-entry ledger: accounts, transfers and their entries.

Modelled on Zulip's append-only license ledger: a row, once written, is never
changed. A business event is one ``Transfer`` whose ``Entry`` rows sum to zero;
a correction is a new transfer that reverses an old one. On PostgreSQL triggers
refuse UPDATE and DELETE of entries and transfers, and a deferred constraint
trigger refuses to commit a transfer whose entries do not sum to zero (B07).

Only customer wallets carry a cached ``balance_yen`` (CHECK >= 0), updated in
the same transaction as their entries under a row lock. System accounts keep no
cached balance, so no single hot row serialises every payment in the country.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER_WALLET = "customer_wallet", _("Customer wallet")
        CARD_CLEARING = "card_clearing", _("Card clearing")
        CASH_CLEARING = "cash_clearing", _("Cash clearing (store registers)")
        ATM_CLEARING = "atm_clearing", _("ATM clearing")
        HELD_TOPUPS = "held_topups", _("Top-ups held for review")
        MERCHANT_PAYABLE = "merchant_payable", _("Merchant payable")
        COMPENSATION_EXPENSE = "compensation_expense", _("Compensation expense")
        REFUND_PAYABLE = "refund_payable", _("Refund payable")
        UNCLAIMED_BALANCES = "unclaimed_balances", _("Unclaimed balances")
        PAYOUT_CLEARING = "payout_clearing", _("Refund payouts sent to banks and Japan Post")

    kind = models.CharField(max_length=32, choices=Kind.choices)
    # System accounts are found by code ("card_clearing", "merchant_payable:12").
    code = models.CharField(max_length=64, unique=True)
    owner = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="wallet_account")
    balance_yen = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.CheckConstraint(condition=Q(balance_yen__gte=0), name="ledger_wallet_balance_not_negative"),
            models.CheckConstraint(
                condition=(Q(kind="customer_wallet", balance_yen__isnull=False, owner__isnull=False))
                | (~Q(kind="customer_wallet") & Q(balance_yen__isnull=True, owner__isnull=True)),
                name="ledger_only_wallets_cache_balance",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_wallet(self) -> bool:
        return self.kind == self.Kind.CUSTOMER_WALLET


class Transfer(models.Model):
    """One business event. Its entries sum to zero; it is never edited."""

    class Kind(models.TextChoices):
        TOPUP = "topup", _("Top-up")
        TOPUP_RELEASE = "topup_release", _("Held top-up released")
        PAYMENT = "payment", _("Store payment")
        PAYMENT_REFUND = "payment_refund", _("Store refund")
        REVERSAL = "reversal", _("Reversal")
        COMPENSATION = "compensation", _("Compensation")
        REFUND_CLAIM = "refund_claim", _("Refund claim")
        REFUND_CLAIM_RETURN = "refund_claim_return", _("Refund claim rejected: balance returned")
        REFUND_PAYOUT = "refund_payout", _("Refund payouts released")
        REFUND_PAYOUT_RETURN = "refund_payout_return", _("Refund payout returned by the bank")
        ADJUSTMENT = "adjustment", _("Adjustment")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    # Every transfer has one; a retried business event can never post twice.
    idempotency_key = models.CharField(max_length=200, unique=True)
    description = models.CharField(max_length=200, blank=True)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.public_id}"


class Entry(models.Model):
    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount_yen = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [models.CheckConstraint(condition=~Q(amount_yen=0), name="ledger_entry_not_zero")]
        indexes = [models.Index(fields=["account", "-id"], name="entry_account_recent")]

    def __str__(self) -> str:
        return f"{self.account.code} {self.amount_yen:+,}"
