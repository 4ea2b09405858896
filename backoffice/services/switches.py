from __future__ import annotations

from django.db import transaction

from wallet.models import ChannelSwitch, User
from wallet.services.switches import channel_switch_set

from ..models import Approval
from .approvals import approval_request
from .audit import staff_action_record


def channel_switch_flip(*, name: str, enabled: bool, reason: str, acting_user: User, ip: str | None = None) -> ChannelSwitch | Approval:
    """Turning a channel off is immediate and needs one person (stopping harm must not
    wait). Turning it back on needs a second person (B04): it returns a pending
    ``Approval`` and the channel stays off until someone else approves it."""
    if enabled:
        return approval_request(kind=Approval.Kind.CHANNEL_ENABLE, payload={"channel": name}, reason=reason, maker=acting_user, ip=ip)
    with transaction.atomic():
        previous = ChannelSwitch.objects.select_for_update().filter(name=name).values_list("enabled", flat=True).first()
        was_enabled = True if previous is None else previous
        switch = channel_switch_set(name=name, enabled=False, reason=reason, acting_user=acting_user)
        staff_action_record(
            acting_user=acting_user,
            action="channel.disable",
            target=switch,
            before={"enabled": was_enabled},
            after={"enabled": False},
            reason=reason,
            ip=ip,
        )
    return switch
