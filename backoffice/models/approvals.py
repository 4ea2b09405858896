from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

APPROVAL_LIFETIME = timedelta(hours=24)


def approval_default_expiry() -> datetime:
    return timezone.now() + APPROVAL_LIFETIME


class Approval(models.Model):
    """Maker-checker (B04): one person asks, a different person approves, and only
    then does the act run. Maker ≠ checker is checked by the service and refused by
    the database (``approval_checker_is_not_maker``), so no code path can skip it.
    """

    class Kind(models.TextChoices):
        CHANNEL_ENABLE = "channel_enable", _("Turn a channel back on")
        UNFREEZE = "unfreeze", _("Unfreeze an account")
        COMPENSATION = "compensation", _("Compensation")
        MASS_RESET = "mass_reset", _("Mass password reset")
        PAYOUT_RELEASE = "payout_release", _("Release a payout file")
        LATE_CLAIM = "late_claim", _("Late refund claim")
        LEDGER_CORRECTION = "ledger_correction", _("Ledger correction")
        FACTOR_RESET = "factor_reset", _("Second-factor reset")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    payload = models.JSONField(_("details"), default=dict, blank=True)
    reason = models.TextField(_("reason"))
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals_made", verbose_name=_("requested by")
    )
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approvals_checked",
        verbose_name=_("decided by"),
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), default=approval_default_expiry)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    executed_at = models.DateTimeField(_("carried out at"), null=True, blank=True)

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(checker__isnull=True) | ~models.Q(checker=models.F("maker")),
                name="approval_checker_is_not_maker",
            )
        ]
        permissions = [("check_approval", "Can approve or reject another person's request")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.payload_summary}"

    @property
    def payload_summary(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in sorted(self.payload.items()))

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())
