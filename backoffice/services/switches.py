from __future__ import annotations

from django.db import transaction

from wallet.models import ChannelSwitch, User
from wallet.services.switches import channel_switch_set

from .audit import staff_action_record


def channel_switch_flip(*, name: str, enabled: bool, reason: str, acting_user: User, ip: str | None = None) -> ChannelSwitch:
    """A staff member turns a channel on or off; the change and its audit row commit together."""
    with transaction.atomic():
        previous = ChannelSwitch.objects.select_for_update().filter(name=name).values_list("enabled", flat=True).first()
        was_enabled = True if previous is None else previous
        switch = channel_switch_set(name=name, enabled=enabled, reason=reason, acting_user=acting_user)
        staff_action_record(
            acting_user=acting_user,
            action="channel.enable" if enabled else "channel.disable",
            target=switch,
            before={"enabled": was_enabled},
            after={"enabled": enabled},
            reason=reason,
            ip=ip,
        )
    return switch
