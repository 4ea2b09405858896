"""Each money channel's switch stops exactly that channel and nothing else.

7pay stopped card top-ups on day two and every other top-up on day three while
existing balances could still be spent: the same day here is one switch each.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import make_customer
from tests.money import fund_wallet, make_card, make_terminal, payment_code_for
from wallet.models import Terminal, TopUp, User
from wallet.selectors import wallet_balance
from wallet.services.cards import card_registration_start
from wallet.services.payments import payment_redeem
from wallet.services.switches import channel_switch_set
from wallet.services.topups import topup_card, topup_cash
from wallet.switches import ChannelDisabled

pytestmark = pytest.mark.django_db

MONEY_CHANNELS = ["card.register", "charge.credit_card", "charge.debit_card", "charge.store_register", "charge.atm", "payment.store"]


def _operations(customer: User) -> dict[str, Callable[[], object]]:
    register, _key = make_terminal(Terminal.Kind.STORE_REGISTER, merchant_code="switch-shop")
    atm, _key = make_terminal(Terminal.Kind.ATM, merchant_code="switch-shop")
    credit = make_card(customer, funding="credit", last4="4242")
    debit = make_card(customer, funding="debit", last4="5556")

    def key() -> str:
        return secrets.token_hex(8)

    def cash(terminal: Terminal) -> TopUp:
        return topup_cash(terminal=terminal, code=payment_code_for(user=customer).code, amount_yen=1_000, idempotency_key=key())

    return {
        "card.register": lambda: card_registration_start(user=customer, return_url="http://testserver/cards/return/"),
        "charge.credit_card": lambda: topup_card(user=customer, card=credit, amount_yen=1_000, idempotency_key=key()),
        "charge.debit_card": lambda: topup_card(user=customer, card=debit, amount_yen=1_000, idempotency_key=key()),
        "charge.store_register": lambda: cash(register),
        "charge.atm": lambda: cash(atm),
        "payment.store": lambda: payment_redeem(
            terminal=register, code=payment_code_for(user=customer).code, amount_yen=100, idempotency_key=key()
        ),
    }


def switch_off(name: str, capture: Any) -> None:
    # The switch updates the shared cache when its transaction commits.
    with capture(execute=True):
        channel_switch_set(name=name, enabled=False, reason="incident drill", acting_user=None)


@pytest.mark.parametrize("switched_off", MONEY_CHANNELS)
def test_a_switch_stops_exactly_its_channel(switched_off: str, django_capture_on_commit_callbacks: Any) -> None:
    customer = make_customer()
    fund_wallet(customer, 5_000)
    operations = _operations(customer)
    switch_off(switched_off, django_capture_on_commit_callbacks)
    for channel, operation in operations.items():
        if channel == switched_off:
            balance = wallet_balance(customer)
            with pytest.raises(ChannelDisabled):
                operation()
            assert wallet_balance(customer) == balance, f"{channel} changed the balance while switched off"
        else:
            operation()


def test_with_every_top_up_channel_off_existing_balances_can_still_be_spent(django_capture_on_commit_callbacks: Any) -> None:
    customer = make_customer()
    register, _key = make_terminal()
    fund_wallet(customer, 3_000, register)
    for channel in ["charge.credit_card", "charge.debit_card", "charge.store_register", "charge.atm"]:
        switch_off(channel, django_capture_on_commit_callbacks)
    with pytest.raises(ChannelDisabled):
        fund_wallet(customer, 1_000, register)
    payment_redeem(terminal=register, code=payment_code_for(user=customer).code, amount_yen=2_500, idempotency_key="spend")
    assert wallet_balance(customer) == 500
