"""Money: merchants and terminals, cards in the development gateway's vault, and funded wallets.
Everything goes through the real services."""

from __future__ import annotations

import secrets

from tests.factories.customers import ensure_second_factor
from wallet.models import Card, GatewayCard, Merchant, Terminal, TopUp, User
from wallet.services.payments import IssuedPaymentCode, payment_code_issue
from wallet.services.terminals import merchant_create, terminal_create
from wallet.services.topups import topup_cash


def make_terminal(kind: str = Terminal.Kind.STORE_REGISTER, merchant_code: str | None = None) -> tuple[Terminal, str]:
    code = merchant_code or f"m-{secrets.token_hex(3)}"
    merchant = Merchant.objects.filter(code=code).first() or merchant_create(name=f"Store {code}", code=code)
    return terminal_create(merchant=merchant, name=f"{kind} {secrets.token_hex(2)}", kind=kind)


def make_card(user: User, *, funding: str = "credit", behaviour: str = "ok", last4: str = "4242") -> Card:
    """A card as the hosted page would have tokenised it (no card number anywhere); registering
    one needs an authenticator (A13), so the customer has one."""
    ensure_second_factor(user)
    token = f"tok_{secrets.token_hex(12)}"
    fingerprint = secrets.token_hex(32)
    GatewayCard.objects.create(
        token=token, fingerprint=fingerprint, brand="visa", last4=last4, exp_month=12, exp_year=2030, funding=funding, behaviour=behaviour
    )
    return Card.objects.create(
        user=user, gateway_token=token, brand="visa", last4=last4, exp_month=12, exp_year=2030, funding=funding, fingerprint=fingerprint
    )


def payment_code_for(*, user: User) -> IssuedPaymentCode:
    """The code the customer's app shows (the customer has an authenticator, as every paying customer does)."""
    ensure_second_factor(user)
    return payment_code_issue(user=user)


def fund_wallet(user: User, amount_yen: int, terminal: Terminal | None = None) -> TopUp:
    """Cash in at a store register, as a customer would."""
    register = terminal or make_terminal()[0]
    code = payment_code_for(user=user).code
    return topup_cash(terminal=register, code=code, amount_yen=amount_yen, idempotency_key=secrets.token_hex(8))
