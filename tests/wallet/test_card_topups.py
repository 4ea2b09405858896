"""Card top-ups through the gateway adapter: success, declines, timeouts and reconciliation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import make_customer
from tests.money import make_card
from wallet.models import Card, GatewayCharge, LimitPolicy, TopUp, User
from wallet.selectors import wallet_balance
from wallet.services.ledger_audit import ledger_verify
from wallet.services.limits import LimitExceeded
from wallet.services.topups import CardNotUsable, topup_card, topups_reconcile

pytestmark = pytest.mark.django_db


def test_a_card_top_up_charges_once_and_credits_the_wallet(customer: User) -> None:
    card = make_card(customer)
    topup = topup_card(user=customer, card=card, amount_yen=5_000, idempotency_key="web-1")
    assert topup.status == TopUp.Status.SUCCEEDED
    assert wallet_balance(customer) == 5_000
    again = topup_card(user=customer, card=card, amount_yen=5_000, idempotency_key="web-1")
    assert again.pk == topup.pk
    assert GatewayCharge.objects.count() == 1
    assert ledger_verify().ok


def test_a_declined_card_changes_nothing(customer: User) -> None:
    card = make_card(customer, behaviour="decline")
    topup = topup_card(user=customer, card=card, amount_yen=5_000, idempotency_key="d")
    assert (topup.status, topup.failure_code) == (TopUp.Status.DECLINED, "card_declined")
    assert wallet_balance(customer) == 0


def test_a_gateway_timeout_stays_pending_until_reconciled(customer: User) -> None:
    card = make_card(customer, behaviour="timeout")
    topup = topup_card(user=customer, card=card, amount_yen=3_000, idempotency_key="t")
    assert topup.status == TopUp.Status.PENDING
    assert wallet_balance(customer) == 0
    # The gateway did charge the card; the reconcile job finds that charge by the same key.
    TopUp.objects.filter(pk=topup.pk).update(created_at=topup.created_at - timedelta(minutes=5))
    assert topups_reconcile() == 1
    assert topups_reconcile() == 0
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert wallet_balance(customer) == 3_000
    assert GatewayCharge.objects.count() == 1


def test_pending_top_ups_count_against_the_daily_cap(customer: User) -> None:
    card = make_card(customer, behaviour="timeout")
    cap = LimitPolicy.objects.get(kind="topup.card").per_day_max_yen
    assert cap is not None
    # The cap is above the step-up threshold (B11): the customer confirmed with a fresh code.
    topup_card(user=customer, card=card, amount_yen=cap, idempotency_key="p1", step_up_fresh=True)
    with pytest.raises(LimitExceeded):
        topup_card(user=customer, card=card, amount_yen=1, idempotency_key="p2", step_up_fresh=True)


def test_b08_another_customers_or_a_removed_card_cannot_be_charged(customer: User) -> None:
    other = make_customer("other@example.jp")
    card = make_card(other)
    with pytest.raises(CardNotUsable):
        topup_card(user=customer, card=card, amount_yen=1_000, idempotency_key="x")
    mine = make_card(customer)
    Card.objects.filter(pk=mine.pk).update(status=Card.Status.REMOVED)
    mine.refresh_from_db()
    with pytest.raises(CardNotUsable):
        topup_card(user=customer, card=mine, amount_yen=1_000, idempotency_key="y")
    assert not GatewayCharge.objects.exists()
