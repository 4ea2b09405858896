"""The registry of channels that staff can switch off, checked by key.

Modelled on Sentry's killswitches: every name is declared here with what it
stops, so the admin can show it and a typo in a service fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Channel:
    name: str
    description: str | Promise


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in [
        Channel("signup", _("New customer sign-ups.")),
        Channel("login.password", _("Customer login with email and password (web and app).")),
        Channel("card.register", _("Registering a new credit or debit card.")),
        Channel("charge.credit_card", _("Top-ups charged to a credit card.")),
        Channel("charge.debit_card", _("Top-ups charged to a debit card.")),
        Channel("charge.store_register", _("Cash top-ups at a store register.")),
        Channel("charge.atm", _("Top-ups at a bank ATM.")),
        Channel("payment.store", _("Barcode payments at stores.")),
        Channel("refund.claims", _("New refund claims.")),
        Channel("payout.bank", _("Bank payout files leaving for the bank.")),
    ]
}


class UnknownChannel(KeyError):
    pass


class ChannelDisabled(Exception):
    """Raised by a service whose channel is switched off; views show ``message``."""

    def __init__(self, channel: str, reason: str = "") -> None:
        self.channel = channel
        self.reason = reason
        super().__init__(f"channel {channel} is switched off")

    @property
    def message(self) -> str:
        return str(_("This service is temporarily suspended. Your balance and history are safe."))


def get_channel(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except KeyError as exc:
        raise UnknownChannel(name) from exc
