"""The shutdown programme: the dates the Payment Services Act makes us announce,
the public notice, and the state of the notices to every holder."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Payment Services Act art. 20 and the Cabinet Office Order: holders must have at least 60 days to claim.
MINIMUM_CLAIM_WINDOW = timedelta(days=60)


class ShutdownProgramme(models.Model):
    """One wind-down of the wallet. At most one is live (not cancelled) at a time (``programme_create`` checks).

    ``announce`` queues a paced notice to every holder with a balance; at
    ``service_ends_at`` a beat job switches off the top-up and payment channels;
    claims are accepted from ``claims_open_at`` until ``claims_close_at``, later
    only by staff with a second person's approval.
    """

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ANNOUNCED = "announced", _("Announced")
        SERVICE_ENDED = "service_ended", _("Service ended")
        CLAIMS_CLOSED = "claims_closed", _("Claim window closed")
        CANCELLED = "cancelled", _("Cancelled")

    title = models.CharField(_("title"), max_length=200)
    announced_on = models.DateField(_("announcement date"))
    service_ends_at = models.DateTimeField(_("service end"))
    claims_open_at = models.DateTimeField(_("claims open"))
    claims_close_at = models.DateTimeField(_("claims close"))
    notice_ja = models.TextField(_("public notice (Japanese)"))
    notice_en = models.TextField(_("public notice (English)"), blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    notices_queued = models.PositiveIntegerField(_("holder notices queued"), default=0)
    notices_queued_at = models.DateTimeField(_("holder notices queued at"), null=True, blank=True)
    # The last wallet account id whose holder was queued a notice; the job resumes after it.
    notices_cursor = models.BigIntegerField(default=0)
    notices_done_at = models.DateTimeField(_("all holder notices queued at"), null=True, blank=True)
    channels_closed_at = models.DateTimeField(_("channels closed at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("shutdown programme")
        verbose_name_plural = _("shutdown programmes")
        ordering = ["-created_at", "-id"]
        constraints = [
            # The service refuses a shorter window with a message; the database refuses it whatever the path.
            models.CheckConstraint(
                condition=Q(claims_close_at__gte=F("claims_open_at") + MINIMUM_CLAIM_WINDOW), name="shutdown_claim_window_60_days"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def claim_window(self) -> timedelta:
        return self.claims_close_at - self.claims_open_at

    def claims_are_open(self, now: datetime | None = None) -> bool:
        moment = now or timezone.now()
        return self.state in (self.State.ANNOUNCED, self.State.SERVICE_ENDED) and self.claims_open_at <= moment < self.claims_close_at

    def claims_have_closed(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.claims_close_at
