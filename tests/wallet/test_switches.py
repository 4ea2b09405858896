from __future__ import annotations

import pytest

from backoffice.models import StaffAction
from backoffice.services.switches import channel_switch_flip
from wallet.models import ChannelSwitchChange, User
from wallet.services.switches import channel_check, channel_is_enabled
from wallet.switches import CHANNELS, ChannelDisabled, UnknownChannel

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_registered_channel_starts_on() -> None:
    assert all(channel_is_enabled(name) for name in CHANNELS)


def test_switching_off_stops_only_that_channel_at_once_and_is_audited() -> None:
    staff = User.objects.create_user("ops@anzenpay.example", "long enough password 1", is_staff=True)
    channel_check("signup")  # warms the cache
    channel_switch_flip(name="signup", enabled=False, reason="sign-up fraud wave", acting_user=staff)

    with pytest.raises(ChannelDisabled):
        channel_check("signup")
    channel_check("login.password")
    action = StaffAction.objects.get(action="channel.disable")
    assert action.actor == staff and action.before == {"enabled": True} and action.after == {"enabled": False}
    assert ChannelSwitchChange.objects.filter(switch__name="signup", enabled=False).count() == 1


def test_a_switch_needs_a_reason_and_a_known_name() -> None:
    staff = User.objects.create_user("ops@anzenpay.example", "long enough password 1", is_staff=True)
    with pytest.raises(ValueError):
        channel_switch_flip(name="signup", enabled=False, reason="  ", acting_user=staff)
    with pytest.raises(UnknownChannel):
        channel_check("no.such.channel")
    assert channel_is_enabled("signup")
    assert not StaffAction.objects.exists()
