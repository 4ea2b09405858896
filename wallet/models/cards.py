"""Cards as we know them: a gateway token and what may be shown (P02).

The card number and security code never reach these models: the customer types
them into the gateway's hosted page, and we receive a token. ``GatewayCard`` and
``GatewayCharge`` belong to the development gateway (it stands in for the card
acquirer we cannot reach from here) and, like a real gateway's vault seen from
outside, hold no card number or security code either: only a keyed fingerprint.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Card(models.Model):
    class Funding(models.TextChoices):
        CREDIT = "credit", _("Credit card")
        DEBIT = "debit", _("Debit card")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REMOVED = "removed", _("Removed")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cards")
    gateway_token = models.CharField(max_length=64, unique=True)
    brand = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    funding = models.CharField(max_length=8, choices=Funding.choices)
    # The gateway's keyed digest of the card number: the same card on many wallets shows up.
    fingerprint = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        constraints = [
            models.UniqueConstraint(fields=["user", "fingerprint"], condition=Q(status="active"), name="card_once_per_wallet"),
        ]

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}"

    @property
    def channel(self) -> str:
        return "charge.credit_card" if self.funding == self.Funding.CREDIT else "charge.debit_card"


class CardRegistration(models.Model):
    """One visit to the gateway's hosted page to add a card."""

    class Status(models.TextChoices):
        STARTED = "started", _("Started")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", pgettext_lazy("money status", "Failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="card_registrations")
    gateway_session = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STARTED)
    failure_code = models.CharField(max_length=32, blank=True)
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"card registration {self.public_id} ({self.status})"


class GatewaySession(models.Model):
    """Development gateway: a hosted-page session (what the acquirer keeps on its side)."""

    session_id = models.CharField(max_length=64, unique=True)
    return_url = models.URLField(max_length=500)
    three_ds_code_digest = models.CharField(max_length=64, blank=True)
    security_code_failures = models.PositiveSmallIntegerField(default=0)
    result_token = models.CharField(max_length=64, blank=True)
    failure_code = models.CharField(max_length=32, blank=True)
    pending = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.session_id


class GatewayCard(models.Model):
    """Development gateway: its vault entry for a token. No card number, no security code."""

    token = models.CharField(max_length=64, unique=True)
    fingerprint = models.CharField(max_length=64)
    brand = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    funding = models.CharField(max_length=8)
    # How this test card behaves when charged: "ok", "decline", "timeout".
    behaviour = models.CharField(max_length=16, default="ok")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.token


class GatewayCharge(models.Model):
    """Development gateway: a charge, found again by our idempotency key after a timeout."""

    charge_id = models.CharField(max_length=64, unique=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    token = models.CharField(max_length=64)
    amount_yen = models.BigIntegerField()
    status = models.CharField(max_length=16)
    refunded_yen = models.BigIntegerField(default=0)
    # Set when the issuer reverses the charge (a chargeback); the back-office records it.
    reversed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.charge_id


class CardReversal(models.Model):
    """An issuer's chargeback of one of our card top-up charges, as the gateway
    reported it (``CardGateway.reversals_since``). The customer already has the
    money back from their issuer, so the back-office never compensates it again.
    """

    topup = models.OneToOneField("wallet.TopUp", on_delete=models.PROTECT, related_name="card_reversal", verbose_name=_("top-up"))
    charge_id = models.CharField(_("gateway charge"), max_length=64, unique=True)
    amount_yen = models.BigIntegerField(_("amount (yen)"))
    reason = models.CharField(_("reason"), max_length=64, blank=True)
    reversed_at = models.DateTimeField(_("reversed at"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("card chargeback")
        verbose_name_plural = _("card chargebacks")
        ordering = ["-reversed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.charge_id} ¥{self.amount_yen:,}"
