"""T2 (B03): a wallet holds ¥1,000 and 50 terminals try to take ¥1,000 at once.

Two races: 50 requests on the SAME payment code (the code is single-use), and 50
requests each with its OWN live code for the same wallet (the balance is the
only thing stopping them). Both must end with exactly one payment and a zero
balance, and the ledger must still prove out.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone

from tests.helpers import race as race_threads
from tests.money import ensure_second_factor, payment_code_for
from wallet.models import LedgerAccount, Payment, PaymentCode, Terminal, Transfer, User
from wallet.services.ledger import Leg, MoneyError, new_idempotency_key, system_account, transfer_post, wallet_account_for
from wallet.services.ledger_audit import ledger_verify
from wallet.services.payments import payment_code_digest, payment_redeem
from wallet.services.terminals import merchant_create, terminal_create

PARALLEL = 50
BALANCE_YEN = 1_000


def funded_customer() -> tuple[User, LedgerAccount]:
    user = User.objects.create_user(f"t2-{uuid.uuid4().hex[:8]}@example.jp", None, full_name="二重 払子")
    ensure_second_factor(user)  # only an account with an authenticator pays (A13)
    wallet = wallet_account_for(user)
    transfer_post(
        kind=Transfer.Kind.TOPUP,
        legs=[Leg(system_account("card_clearing"), -BALANCE_YEN), Leg(wallet, BALANCE_YEN)],
        idempotency_key=new_idempotency_key("t2-topup"),
    )
    return user, wallet


def terminals(count: int) -> list[Terminal]:
    merchant = merchant_create(name="FamilyMart Shinjuku", code=f"fm-{uuid.uuid4().hex[:8]}")
    return [terminal_create(merchant=merchant, name=f"Register {i}", kind=Terminal.Kind.STORE_REGISTER)[0] for i in range(count)]


def race(attempts: list[Callable[[], object]]) -> Counter[str]:
    return race_threads(attempts, refusals=(MoneyError,), success="paid")


def assert_exactly_one_payment(user: User, wallet: LedgerAccount, outcomes: Counter[str], label: str) -> None:
    wallet.refresh_from_db()
    report = ledger_verify()
    print(f"\nT2 {label}: {dict(outcomes)}; final balance ¥{wallet.balance_yen:,}; ledger violations {report.violations}")
    assert outcomes["paid"] == 1
    assert sum(outcomes.values()) == PARALLEL
    assert not [outcome for outcome in outcomes if outcome.startswith("error:")]
    assert wallet.balance_yen == 0
    assert Payment.objects.filter(user=user).count() == 1
    assert report.ok, "\n".join(report.lines())


@pytest.mark.django_db(transaction=True)
def test_t02_fifty_parallel_payments_on_one_code_exactly_one_succeeds() -> None:
    user, wallet = funded_customer()
    code = payment_code_for(user=user).code
    registers = terminals(5)

    outcomes = race(
        [
            partial(payment_redeem, terminal=registers[i % 5], code=code, amount_yen=BALANCE_YEN, idempotency_key=f"t2-same-{i}")
            for i in range(PARALLEL)
        ]
    )

    assert_exactly_one_payment(user, wallet, outcomes, "same code")
    # The losers were told the code is spent, not that the wallet is empty.
    assert outcomes["invalid_payment_code"] == PARALLEL - 1


@pytest.mark.django_db(transaction=True)
def test_t02_fifty_parallel_payments_with_fifty_live_codes_exactly_one_succeeds() -> None:
    user, wallet = funded_customer()
    # payment_code_issue replaces the previous code, so fifty live codes at once are written
    # directly, digested exactly as the service does.
    codes = [f"88{uuid.uuid4().int % 10**16:016d}" for _ in range(PARALLEL)]
    now = timezone.now()
    PaymentCode.objects.bulk_create(
        [
            PaymentCode(user=user, code_digest=payment_code_digest(code), created_at=now, expires_at=now + timedelta(minutes=5))
            for code in codes
        ]
    )
    registers = terminals(5)

    outcomes = race(
        [
            partial(payment_redeem, terminal=registers[i % 5], code=codes[i], amount_yen=BALANCE_YEN, idempotency_key=f"t2-own-{i}")
            for i in range(PARALLEL)
        ]
    )

    assert_exactly_one_payment(user, wallet, outcomes, "fifty codes")
    assert outcomes["insufficient_funds"] == PARALLEL - 1
    assert PaymentCode.objects.filter(user=user, used_at__isnull=False).count() == 1
