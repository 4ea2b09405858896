"""Top-ups, merchants and their terminals, payment codes, store payments and
refunds, and the stored responses that make money-moving requests idempotent."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TopUp(models.Model):
    class Channel(models.TextChoices):
        CREDIT_CARD = "charge.credit_card", _("Credit card")
        DEBIT_CARD = "charge.debit_card", _("Debit card")
        STORE_REGISTER = "charge.store_register", _("Cash at a store register")
        ATM = "charge.atm", _("Bank ATM")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the card gateway")
        SUCCEEDED = "succeeded", _("Completed")
        HELD = "held", _("Held for review")
        DECLINED = "declined", _("Declined")
        FAILED = "failed", pgettext_lazy("money status", "Failed")
        REJECTED = "rejected", _("Rejected after review")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The caller's idempotency key, scoped by who asked: a retried request finds its top-up.
    request_key = models.CharField(max_length=240, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="topups")
    channel = models.CharField(max_length=32, choices=Channel.choices)
    amount_yen = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    failure_code = models.CharField(max_length=32, blank=True)
    card = models.ForeignKey("wallet.Card", null=True, blank=True, on_delete=models.PROTECT, related_name="topups")
    terminal = models.ForeignKey("wallet.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="topups")
    gateway_charge_id = models.CharField(max_length=64, blank=True)
    transfer = models.OneToOneField("wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="topup")
    release_transfer = models.OneToOneField(
        "wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="released_topup"
    )
    risk_decision = models.ForeignKey("wallet.RiskDecision", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("top-up")
        verbose_name_plural = _("top-ups")
        constraints = [models.CheckConstraint(condition=Q(amount_yen__gt=0), name="topup_amount_positive")]
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["channel", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"top-up ¥{self.amount_yen:,} {self.channel} ({self.status})"


class Merchant(models.Model):
    name = models.CharField(max_length=120)
    code = models.SlugField(max_length=32, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")

    def __str__(self) -> str:
        return self.name


class Terminal(models.Model):
    """A store register or an ATM. Its API key is shown once; only a digest is kept."""

    class Kind(models.TextChoices):
        STORE_REGISTER = "store_register", _("Store register")
        ATM = "atm", _("ATM")

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="terminals")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STORE_REGISTER)
    key_prefix = models.CharField(max_length=12, unique=True)
    key_digest = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")

    def __str__(self) -> str:
        return f"{self.merchant.name} / {self.name}"

    # DRF's IsAuthenticated asks the principal this.
    @property
    def is_authenticated(self) -> bool:
        return True


class PaymentCode(models.Model):
    """A single-use code shown as QR and barcode; only its digest is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payment_codes")
    code_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # Set when a newer code replaces this one before use.
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"payment code {self.pk} for {self.user_id}"

    @property
    def is_live(self) -> bool:
        return self.used_at is None and self.superseded_at is None and self.expires_at > timezone.now()


class Payment(models.Model):
    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("Paid")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partly refunded")
        REFUNDED = "refunded", _("Refunded")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payments")
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="payments")
    amount_yen = models.BigIntegerField()
    refunded_yen = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUCCEEDED)
    description = models.CharField(max_length=120, blank=True)
    transfer = models.OneToOneField("wallet.Transfer", on_delete=models.PROTECT, related_name="payment")
    risk_decision = models.ForeignKey("wallet.RiskDecision", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("store payment")
        verbose_name_plural = _("store payments")
        constraints = [
            models.CheckConstraint(condition=Q(amount_yen__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_yen__gte=0, refunded_yen__lte=F("amount_yen")), name="payment_refund_within_amount"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "-created_at"]), models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"payment ¥{self.amount_yen:,} at {self.merchant_id}"

    @property
    def refundable_yen(self) -> int:
        return self.amount_yen - self.refunded_yen


class PaymentRefund(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="+")
    amount_yen = models.BigIntegerField()
    transfer = models.OneToOneField("wallet.Transfer", on_delete=models.PROTECT, related_name="payment_refund")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("store refund")
        verbose_name_plural = _("store refunds")
        constraints = [models.CheckConstraint(condition=Q(amount_yen__gt=0), name="payment_refund_amount_positive")]

    def __str__(self) -> str:
        return f"refund ¥{self.amount_yen:,} of payment {self.payment_id}"


class IdempotencyRecord(models.Model):
    """The stored first answer to a money-moving request (B06).

    ``scope`` names the caller ("user:12", "terminal:3"), so two callers may use
    the same key. ``fingerprint`` is a digest of the method, path and body: the
    same key with other parameters is refused rather than replayed.
    """

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_once_per_caller")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
