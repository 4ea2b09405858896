from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class MassReset(models.Model):
    """A mass password reset: a resumable bulk job over a filtered set of customers.

    The job walks customer ids in keyset batches; ``last_user_id`` is the cursor,
    committed with each batch, so a killed worker resumes after the last finished
    batch and no account is reset twice or missed (T12).
    """

    class State(models.TextChoices):
        AWAITING_APPROVAL = "awaiting", _("Waiting for approval")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        CANCELLED = "cancelled", _("Cancelled")
        DONE = "done", _("Finished")
        REJECTED = "rejected", pgettext_lazy("mass reset state", "Rejected")

    ACTIVE_STATES = ("queued", "running")

    reason = models.TextField(_("reason"))
    # {"all": true} or any of joined_from/joined_until/active_from/active_until (ISO), case_ids, hunt_id.
    filters = models.JSONField(_("who"), default=dict)
    remove_factors_enrolled_after = models.DateTimeField(_("remove second factors enrolled after"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.AWAITING_APPROVAL)
    approval = models.OneToOneField("backoffice.Approval", null=True, blank=True, on_delete=models.PROTECT, related_name="mass_reset")
    # Accounts that exist at approval are the population; later sign-ups are not reset.
    cutoff_user_id = models.BigIntegerField(null=True, blank=True)
    accounts_estimated = models.PositiveIntegerField(_("accounts (estimate)"), default=0)
    last_user_id = models.BigIntegerField(default=0)
    accounts_reset = models.PositiveIntegerField(_("accounts reset"), default=0)
    sessions_ended = models.PositiveIntegerField(default=0)
    tokens_deleted = models.PositiveIntegerField(default=0)
    factors_removed = models.PositiveIntegerField(default=0)
    notices_queued = models.PositiveIntegerField(default=0)
    batch_size = models.PositiveIntegerField(default=5000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by"))
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("mass password reset")
        verbose_name_plural = _("mass password resets")
        ordering = ["-created_at", "-id"]
        permissions = [("run_massreset", "Can request, pause, resume and cancel a mass password reset")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_state_display()} {self.accounts_reset:,}/{self.accounts_estimated:,}"

    @property
    def percent_done(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.accounts_estimated:
            return 0
        return min(99, int(100 * self.accounts_reset / self.accounts_estimated))
