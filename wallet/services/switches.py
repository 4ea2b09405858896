from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ..models import ChannelSwitch, ChannelSwitchChange, User
from ..switches import ChannelDisabled, get_channel

_CACHE_PREFIX = "channel-switch:"
# Short, so a reader that raced a write cannot keep a stale state for long.
_CACHE_SECONDS = 30


def _cache_key(name: str) -> str:
    return f"{_CACHE_PREFIX}{name}"


def channel_is_enabled(name: str) -> bool:
    """Cached read; a write invalidates the cache on commit, so a change is seen at once."""
    get_channel(name)
    cached = cache.get(_cache_key(name))
    if cached is not None:
        return bool(cached)
    row = ChannelSwitch.objects.filter(name=name).values_list("enabled", flat=True).first()
    enabled = True if row is None else bool(row)
    cache.set(_cache_key(name), int(enabled), _CACHE_SECONDS)
    return enabled


def channel_check(name: str) -> None:
    """Services call this before they act. Raises ``ChannelDisabled``."""
    if not channel_is_enabled(name):
        reason = ChannelSwitch.objects.filter(name=name).values_list("reason", flat=True).first() or ""
        raise ChannelDisabled(name, reason)


def channel_switch_set(*, name: str, enabled: bool, reason: str, acting_user: User | None) -> ChannelSwitch:
    """Turn a channel on or off, keep its history and invalidate the cache.

    The caller (the back-office) writes the staff audit row in the same transaction.
    """
    get_channel(name)
    reason = reason.strip()
    if not reason:
        raise ValueError("A reason is required to switch a channel.")
    now = timezone.now()
    with transaction.atomic():
        switch, _created = ChannelSwitch.objects.select_for_update().get_or_create(name=name)
        switch.enabled = enabled
        switch.reason = reason
        switch.changed_by = acting_user
        switch.changed_at = now
        switch.save()
        ChannelSwitchChange.objects.create(switch=switch, enabled=enabled, reason=reason, changed_by=acting_user, changed_at=now)
        transaction.on_commit(lambda: cache.set(_cache_key(name), int(enabled), _CACHE_SECONDS))
    return switch
