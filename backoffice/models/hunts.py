from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Hunt(models.Model):
    """A look-back hunt: one risk rule run over a date range of history as a
    background job. Its hits are the affected customers with counts and yen; the
    totals are the damage estimate ("N customers, ¥M").
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    rule_kind = models.CharField(_("rule"), max_length=40)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    period_start = models.DateTimeField(_("from"))
    period_end = models.DateTimeField(_("until"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    # Progress in slices of the period (the job scans the range slice by slice).
    steps_total = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    customers_count = models.PositiveIntegerField(_("customers"), default=0)
    transactions_count = models.PositiveIntegerField(_("transactions"), default=0)
    damage_yen = models.BigIntegerField(_("estimated damage (yen)"), default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("started by"))
    created_at = models.DateTimeField(_("started at"), default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("look-back hunt")
        verbose_name_plural = _("look-back hunts")
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(period_end__gt=models.F("period_start")), name="hunt_period_ordered")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule_kind} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"

    @property
    def percent_done(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return int(100 * self.steps_done / self.steps_total) if self.steps_total else 0


class HuntHit(models.Model):
    """One affected customer found by a hunt, with what the rule matched."""

    hunt = models.ForeignKey(Hunt, on_delete=models.CASCADE, related_name="hits", verbose_name=_("hunt"))
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    transactions_count = models.PositiveIntegerField(_("transactions"))
    amount_yen = models.BigIntegerField(_("amount (yen)"))
    first_at = models.DateTimeField(_("first"))
    last_at = models.DateTimeField(_("last"))
    # The ledger transfer ids the rule matched, so a case can be opened with them.
    transfer_ids = models.JSONField(default=list, blank=True)
    case = models.ForeignKey("backoffice.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("hunt hit")
        verbose_name_plural = _("hunt hits")
        ordering = ["-amount_yen", "id"]
        constraints = [models.UniqueConstraint(fields=["hunt", "customer"], name="hunt_hit_once_per_customer")]

    def __str__(self) -> str:
        return f"{self.customer} ¥{self.amount_yen:,}"
