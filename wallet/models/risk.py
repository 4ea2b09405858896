"""Risk rules as data, every decision they made, and the money limits.

Analysts edit rules and limits in the admin; each edit bumps ``version`` and
keeps the old row in ``RiskRuleChange`` so a decision can be explained later
by the rule versions it names.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RiskEvent(models.TextChoices):
    LOGIN = "login", _("Login")
    CARD_REGISTER = "card_register", _("Card registration")
    TOPUP = "topup", _("Top-up")
    PAYMENT = "payment", _("Store payment")


class RiskOutcome(models.TextChoices):
    ALLOW = "allow", _("Allow")
    REVIEW = "review", _("Review")
    BLOCK = "block", _("Block")


class RiskRule(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Which kind of check runs; params hold its thresholds.
    kind = models.CharField(max_length=40)
    events = models.JSONField(default=list, help_text=_('Events the rule scores, e.g. ["topup", "payment"].'))
    params = models.JSONField(default=dict)
    action = models.CharField(max_length=8, choices=RiskOutcome.choices, default=RiskOutcome.REVIEW)
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("risk rule")
        verbose_name_plural = _("risk rules")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"


class RiskRuleChange(models.Model):
    rule = models.ForeignKey(RiskRule, on_delete=models.PROTECT, related_name="changes")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "version"], name="risk_rule_version_once")]

    def __str__(self) -> str:
        return f"{self.rule.code} v{self.version}"


class RiskDecision(models.Model):
    event = models.CharField(max_length=16, choices=RiskEvent.choices)
    outcome = models.CharField(max_length=8, choices=RiskOutcome.choices)
    # [{"rule": code, "version": n, "action": "review", "detail": "..."}]
    reasons = models.JSONField(default=list, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="risk_decisions")
    amount_yen = models.BigIntegerField(default=0)
    channel = models.CharField(max_length=32, blank=True)
    device_key = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The back-office marks a review decision worked.
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("risk decision")
        verbose_name_plural = _("risk decisions")
        indexes = [
            models.Index(fields=["outcome", "created_at"]),
            models.Index(fields=["user", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.outcome} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def reason_text(self) -> str:
        return "; ".join(str(r.get("detail") or r.get("rule")) for r in self.reasons)


class LimitPolicy(models.Model):
    """Caps per customer (per charge, rolling day, rolling 30 days) and in total
    across all customers per rolling day (B01). ``kind`` is "topup.card",
    "topup.cash", "payment" or "balance" (only ``per_charge_max_yen`` is used:
    the most a wallet may hold)."""

    kind = models.CharField(max_length=16, unique=True)
    per_charge_max_yen = models.BigIntegerField()
    per_day_max_yen = models.BigIntegerField(null=True, blank=True)
    per_30_days_max_yen = models.BigIntegerField(null=True, blank=True)
    global_per_day_max_yen = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("money limit")
        verbose_name_plural = _("money limits")
        constraints = [models.CheckConstraint(condition=Q(per_charge_max_yen__gt=0), name="limit_per_charge_positive")]

    def __str__(self) -> str:
        return self.kind
