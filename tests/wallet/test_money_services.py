"""Top-ups, store payments and refunds through the services, as a cashier and a customer see them."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from tests.conftest import make_customer
from tests.money import fund_wallet, make_terminal, payment_code_for
from wallet.models import LimitPolicy, Notification, Payment, RiskDecision, RiskOutcome, Terminal, TopUp, User
from wallet.selectors import activity_for, wallet_balance
from wallet.services.holds import transaction_report_create, wallet_lock, wallet_unlock
from wallet.services.ledger import InsufficientFunds, WalletFrozen
from wallet.services.ledger_audit import ledger_verify
from wallet.services.limits import LimitExceeded
from wallet.services.payments import (
    IdempotencyConflict,
    InvalidAmount,
    InvalidPaymentCode,
    RefundTooLarge,
    payment_redeem,
    payment_refund,
)
from wallet.services.topups import topup_cash, topup_release

pytestmark = pytest.mark.django_db


def pay(terminal: Terminal, user: User, amount: int, key: str = "k1") -> Payment:
    return payment_redeem(terminal=terminal, code=payment_code_for(user=user).code, amount_yen=amount, idempotency_key=key)


def test_cash_topup_credits_the_wallet_and_sends_a_receipt(customer: User, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        topup = fund_wallet(customer, 5_000)
    assert topup.status == TopUp.Status.SUCCEEDED
    assert wallet_balance(customer) == 5_000
    receipt = Notification.objects.get(user=customer, kind="topup_receipt")
    assert receipt.context["amount"] == "5,000"
    assert [(m.to, "5,000" in m.subject) for m in mail.outbox] == [([customer.email], True)]
    assert ledger_verify().ok


def test_payment_moves_money_to_the_merchant_and_the_code_works_once(customer: User) -> None:
    register, _key = make_terminal()
    fund_wallet(customer, 3_000, register)
    code = payment_code_for(user=customer).code
    payment = payment_redeem(terminal=register, code=code, amount_yen=1_200, idempotency_key="a")
    assert payment.amount_yen == 1_200
    assert wallet_balance(customer) == 1_800
    with pytest.raises(InvalidPaymentCode):
        payment_redeem(terminal=register, code=code, amount_yen=100, idempotency_key="b")
    assert wallet_balance(customer) == 1_800
    assert Notification.objects.filter(user=customer, kind="payment_receipt").count() == 1


def test_same_key_returns_the_first_payment_and_other_amount_is_refused(customer: User) -> None:
    register, _key = make_terminal()
    fund_wallet(customer, 3_000, register)
    first = pay(register, customer, 1_000, key="same")
    again = pay(register, customer, 1_000, key="same")
    assert again.pk == first.pk
    with pytest.raises(IdempotencyConflict):
        pay(register, customer, 999, key="same")
    assert wallet_balance(customer) == 2_000


def test_a_new_code_replaces_the_old_one_and_codes_expire(customer: User, settings: object) -> None:
    register, _key = make_terminal()
    fund_wallet(customer, 3_000, register)
    old = payment_code_for(user=customer).code
    payment_code_for(user=customer)
    with pytest.raises(InvalidPaymentCode):
        payment_redeem(terminal=register, code=old, amount_yen=100, idempotency_key="x")
    issued = payment_code_for(user=customer)
    issued.payment_code.__class__.objects.filter(pk=issued.payment_code.pk).update(expires_at=timezone.now())
    with pytest.raises(InvalidPaymentCode):
        payment_redeem(terminal=register, code=issued.code, amount_yen=100, idempotency_key="y")
    assert wallet_balance(customer) == 3_000


def test_b03_payment_above_the_balance_is_refused_and_changes_nothing(customer: User) -> None:
    register, _key = make_terminal()
    fund_wallet(customer, 500, register)
    with pytest.raises(InsufficientFunds):
        pay(register, customer, 501)
    assert wallet_balance(customer) == 500
    assert not Payment.objects.exists()


@pytest.mark.parametrize("amount", [0, -5, 1.5, "100", True])
def test_l03_bad_amounts_are_refused(customer: User, amount: object) -> None:
    register, _key = make_terminal()
    with pytest.raises(InvalidAmount):
        payment_redeem(terminal=register, code="880000000000000000", amount_yen=amount, idempotency_key="k")  # type: ignore[arg-type]


def test_partial_and_full_refunds_never_exceed_the_payment(customer: User) -> None:
    register, _key = make_terminal()
    fund_wallet(customer, 5_000, register)
    payment = pay(register, customer, 3_000)
    payment_refund(terminal=register, payment=payment, amount_yen=1_000, idempotency_key="r1")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PARTIALLY_REFUNDED
    with pytest.raises(RefundTooLarge):
        payment_refund(terminal=register, payment=payment, amount_yen=2_001, idempotency_key="r2")
    payment_refund(terminal=register, payment=payment, amount_yen=2_000, idempotency_key="r3")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert wallet_balance(customer) == 5_000
    assert ledger_verify().ok


def test_b08_another_merchants_terminal_cannot_refund(customer: User) -> None:
    register, _key = make_terminal(merchant_code="shop-a")
    other, _key = make_terminal(merchant_code="shop-b")
    fund_wallet(customer, 2_000, register)
    payment = pay(register, customer, 1_000)
    with pytest.raises(Payment.DoesNotExist):
        payment_refund(terminal=other, payment=payment, amount_yen=500, idempotency_key="r")
    assert wallet_balance(customer) == 1_000


def test_b01_caps_per_charge_day_and_balance(customer: User) -> None:
    register, _key = make_terminal()
    cash = LimitPolicy.objects.get(kind="topup.cash")
    with pytest.raises(LimitExceeded, match="at once"):
        fund_wallet(customer, cash.per_charge_max_yen + 1, register)
    LimitPolicy.objects.filter(kind="topup.cash").update(per_day_max_yen=60_000)
    fund_wallet(customer, 50_000, register)
    with pytest.raises(LimitExceeded, match="left"):
        fund_wallet(customer, 20_000, register)
    LimitPolicy.objects.filter(kind="topup.cash").update(per_day_max_yen=None, per_30_days_max_yen=None)
    LimitPolicy.objects.filter(kind="balance").update(per_charge_max_yen=60_000)
    with pytest.raises(Exception, match="most it may hold"):
        fund_wallet(customer, 20_000, register)
    assert wallet_balance(customer) == 50_000


def test_locking_the_wallet_stops_payments_but_not_top_ups_and_unlock_restores(customer: User) -> None:
    register, _key = make_terminal()
    fund_wallet(customer, 2_000, register)
    wallet_lock(user=customer)
    with pytest.raises(WalletFrozen):
        pay(register, customer, 100)
    fund_wallet(customer, 1_000, register)
    assert wallet_balance(customer) == 3_000
    assert wallet_unlock(user=customer) == 1
    pay(register, customer, 100, key="after")
    assert wallet_balance(customer) == 2_900
    kinds = set(Notification.objects.filter(user=customer).values_list("kind", flat=True))
    assert {"wallet_locked", "wallet_unlocked"} <= kinds


def test_report_records_the_transaction_and_locks_the_wallet(customer: User) -> None:
    register, _key = make_terminal()
    fund_wallet(customer, 2_000, register)
    payment = pay(register, customer, 500)
    report = transaction_report_create(user=customer, transfer=payment.transfer, note="Not me", lock_wallet=True)
    assert report.wallet_locked
    with pytest.raises(WalletFrozen):
        pay(register, customer, 100, key="blocked")
    stranger = make_customer("stranger@example.jp")
    with pytest.raises(payment.transfer.__class__.DoesNotExist):
        transaction_report_create(user=stranger, transfer=payment.transfer, note="", lock_wallet=False)


def test_review_decision_holds_a_cash_top_up_until_released(customer: User, monkeypatch: pytest.MonkeyPatch) -> None:
    import wallet.services.topups as topups

    def review(**kwargs: object) -> RiskDecision:
        return RiskDecision.objects.create(event="topup", outcome=RiskOutcome.REVIEW, user=customer, reasons=[{"rule": "test"}])

    monkeypatch.setattr(topups, "risk_assess", review)
    topup = fund_wallet(customer, 4_000)
    assert topup.status == TopUp.Status.HELD
    assert wallet_balance(customer) == 0
    assert Notification.objects.filter(user=customer, kind="topup_held").exists()
    released = topup_release(topup=topup, acting_user=None)
    assert released.status == TopUp.Status.SUCCEEDED
    assert wallet_balance(customer) == 4_000
    assert ledger_verify().ok


def test_history_lists_top_ups_payments_and_refunds(customer: User) -> None:
    register, _key = make_terminal()
    fund_wallet(customer, 2_000, register)
    payment = pay(register, customer, 700)
    payment_refund(terminal=register, payment=payment, amount_yen=200, idempotency_key="r")
    rows = list(activity_for(customer))
    assert [row.amount_yen for row in rows] == [200, -700, 2_000]
    assert [row.amount_yen for row in activity_for(customer, kind="payment")] == [-700]


def test_cash_top_up_same_key_is_one_top_up(customer: User) -> None:
    register, _key = make_terminal()
    code = payment_code_for(user=customer).code
    first = topup_cash(terminal=register, code=code, amount_yen=1_000, idempotency_key="cash-1")
    again = topup_cash(terminal=register, code=code, amount_yen=1_000, idempotency_key="cash-1")
    assert again.pk == first.pk
    assert wallet_balance(customer) == 1_000
