"""The development gateway's test cards (Luhn-valid, like Stripe's) and card-number helpers.

Only these numbers are accepted by the test page, so a real card typed there by
mistake goes nowhere.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

# Typed as wrong on purpose in the demo and tests; every other 3- or 4-digit code is accepted.
WRONG_SECURITY_CODE = "000"


@dataclass(frozen=True)
class DevTestCard:
    number: str
    brand: str
    funding: str
    # How a charge behaves: "ok", "decline", "no_funds" (insufficient funds) or "timeout".
    behaviour: str
    three_ds_challenge: bool
    description: str | Promise

    @property
    def display_number(self) -> str:
        return " ".join(self.number[i : i + 4] for i in range(0, len(self.number), 4))


DEV_TEST_CARDS: tuple[DevTestCard, ...] = (
    DevTestCard("4242424242424242", "visa", "credit", "ok", False, _("Visa credit: succeeds")),
    DevTestCard("4000056655665556", "visa", "debit", "ok", False, _("Visa debit: succeeds")),
    DevTestCard("5555555555554444", "mastercard", "credit", "ok", False, _("Mastercard credit: succeeds")),
    DevTestCard("3530111333300000", "jcb", "credit", "ok", False, _("JCB credit: succeeds")),
    DevTestCard("4000000000003220", "visa", "credit", "ok", True, _("Visa credit: asks for a 3-D Secure code, then succeeds")),
    DevTestCard("4000000000000002", "visa", "credit", "decline", False, _("Visa credit: registers, every charge is declined")),
    DevTestCard("4000000000009995", "visa", "credit", "no_funds", False, _("Visa credit: registers, charges fail: insufficient funds")),
    DevTestCard("4000000000000119", "visa", "credit", "timeout", False, _("Visa credit: registers, charges time out (but are recorded)")),
)
_BY_NUMBER = {card.number: card for card in DEV_TEST_CARDS}


@sensitive_variables()
def dev_test_card_for(number: str) -> DevTestCard | None:
    return _BY_NUMBER.get(number)


@sensitive_variables()
def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


@sensitive_variables()
def card_fingerprint(number: str) -> str:
    """The same card gives the same fingerprint on every wallet; the number cannot be read back from it."""
    return hmac.new(settings.CARD_GATEWAY_SECRET.encode(), number.encode(), hashlib.sha256).hexdigest()
