"""A customer a fraud case is about: what the compensation tests pay back."""

from __future__ import annotations

import secrets

from backoffice.models import Case
from backoffice.services.cases import case_open_or_join
from tests.factories.customers import make_customer
from tests.factories.money import fund_wallet, make_card, make_terminal, payment_code_for
from wallet.models import TopUp, User
from wallet.services.payments import payment_redeem
from wallet.services.topups import topup_card


def drained_customer(analyst: User) -> tuple[User, Case, TopUp]:
    """Own cash spent and a card top-up spent: one wallet credit and one card refund to pay."""
    customer = make_customer(f"victim-{secrets.token_hex(3)}@example.jp")
    store = make_terminal()[0]
    fund_wallet(customer, 3_000, store)
    topup = topup_card(user=customer, card=make_card(customer), amount_yen=5_000, idempotency_key=secrets.token_hex(8))
    payment = payment_redeem(
        terminal=store, code=payment_code_for(user=customer).code, amount_yen=8_000, idempotency_key=secrets.token_hex(8)
    )
    assert topup.transfer is not None
    case, _opened = case_open_or_join(customer=customer, source="manual", acting_user=analyst, transfers=[topup.transfer, payment.transfer])
    return customer, case, topup
