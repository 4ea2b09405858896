from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ChannelSwitch(models.Model):
    """The live state of one channel in ``wallet.switches.CHANNELS``.

    Changed only through ``wallet.services.switches.channel_switch_set`` (which
    keeps the history and invalidates the cache) and read through
    ``channel_check``.
    """

    name = models.CharField(_("name"), max_length=64, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    reason = models.TextField(_("reason"), blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("changed by")
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("channel switch")
        verbose_name_plural = _("channel switches")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {'on' if self.enabled else 'off'}"


class ChannelSwitchChange(models.Model):
    switch = models.ForeignKey(ChannelSwitch, on_delete=models.PROTECT, related_name="changes")
    enabled = models.BooleanField()
    reason = models.TextField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.switch.name} → {'on' if self.enabled else 'off'} at {self.changed_at:%Y-%m-%d %H:%M}"
