"""B08 object-level access in the money API: a customer reaches only their own
wallet, history, cards and top-ups; a terminal only its own merchant's payments.
Someone else's object answers 404 exactly like one that does not exist, and
nothing about it leaks into lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.api_clients import customer_client, issue_code, new_key, post_money, terminal_client
from tests.conftest import make_customer
from tests.money import make_card, make_terminal
from wallet.models import Payment, PaymentRefund, TopUp, User
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db


@dataclass
class Party:
    user: User
    app: APIClient
    register: APIClient
    payment_id: str
    transaction_id: str
    topup_id: str
    card_id: int


def party(label: str) -> Party:
    """A customer who topped up by card and paid at their own merchant's register."""
    user = make_customer(f"{label}@example.jp", phone=f"+8190{uuid.uuid4().int % 10**8:08d}")
    app = customer_client(user, step_up=True)
    card = make_card(user)
    topup = post_money(app, "topups", {"card_id": card.pk, "amount_yen": 5_000}, new_key()).json()
    _terminal, key = make_terminal(merchant_code=f"merchant-{label}")
    register = terminal_client(key)
    payment = post_money(register, "terminal_payments", {"code": issue_code(app), "amount_yen": 1_000}, new_key()).json()
    transaction_id = app.get(reverse("api:wallet_activity"), {"kind": "payment"}).json()["results"][0]["id"]
    return Party(user, app, register, payment["id"], transaction_id, topup["id"], card.pk)


@pytest.fixture
def alice() -> Party:
    return party("alice")


@pytest.fixture
def bob() -> Party:
    return party("bob")


def assert_not_found_like_nothing(response: Any, nothing: Any) -> None:
    assert response.status_code == nothing.status_code == 404
    assert response.json() == nothing.json()


def test_b08_customer_cannot_read_another_customers_transactions_or_topups(alice: Party, bob: Party) -> None:
    theirs = alice.app.get(reverse("api:wallet_activity_detail", kwargs={"transaction_id": bob.transaction_id}))
    nothing = alice.app.get(reverse("api:wallet_activity_detail", kwargs={"transaction_id": uuid.uuid4()}))
    assert_not_found_like_nothing(theirs, nothing)

    theirs = alice.app.get(reverse("api:topup_detail", kwargs={"topup_id": bob.topup_id}))
    nothing = alice.app.get(reverse("api:topup_detail", kwargs={"topup_id": uuid.uuid4()}))
    assert_not_found_like_nothing(theirs, nothing)


def test_b08_lists_hold_only_the_callers_own_objects(alice: Party, bob: Party) -> None:
    history = alice.app.get(reverse("api:wallet_activity")).content.decode()
    assert alice.transaction_id in history and bob.transaction_id not in history
    cards = alice.app.get(reverse("api:cards")).json()
    assert [card["id"] for card in cards] == [alice.card_id]
    assert alice.app.get(reverse("api:wallet")).json()["balance_yen"] == 4_000

    listed = alice.register.get(reverse("api:terminal_payments")).content.decode()
    assert alice.payment_id in listed and bob.payment_id not in listed


def test_b08_customer_cannot_top_up_from_another_customers_card(alice: Party, bob: Party) -> None:
    response = post_money(alice.app, "topups", {"card_id": bob.card_id, "amount_yen": 1_000}, new_key())
    nothing = post_money(alice.app, "topups", {"card_id": 10**9, "amount_yen": 1_000}, new_key())
    assert_not_found_like_nothing(response, nothing)
    assert TopUp.objects.filter(card_id=bob.card_id).count() == 1
    assert wallet_balance(alice.user) == wallet_balance(bob.user) == 4_000


def test_b08_terminal_cannot_read_or_refund_another_merchants_payment(alice: Party, bob: Party) -> None:
    theirs = alice.register.get(reverse("api:terminal_payment_detail", kwargs={"payment_id": bob.payment_id}))
    nothing = alice.register.get(reverse("api:terminal_payment_detail", kwargs={"payment_id": uuid.uuid4()}))
    assert_not_found_like_nothing(theirs, nothing)

    refund = post_money(alice.register, "terminal_payment_refunds", {"amount_yen": 1_000}, new_key(), payment_id=bob.payment_id)
    nothing = post_money(alice.register, "terminal_payment_refunds", {"amount_yen": 1_000}, new_key(), payment_id=uuid.uuid4())
    assert_not_found_like_nothing(refund, nothing)
    assert not PaymentRefund.objects.exists()
    assert Payment.objects.get(public_id=bob.payment_id).refunded_yen == 0
    assert wallet_balance(bob.user) == 4_000


def test_b08_any_terminal_of_the_same_merchant_may_refund(alice: Party) -> None:
    _other_register, key = make_terminal(merchant_code="merchant-alice")
    refund = post_money(terminal_client(key), "terminal_payment_refunds", {"amount_yen": 400}, new_key(), payment_id=alice.payment_id)
    assert refund.status_code == 201 and refund.json()["payment"]["refundable_yen"] == 600
    assert wallet_balance(alice.user) == 4_400


def test_b08_customer_token_is_not_a_terminal_key_and_vice_versa(alice: Party, bob: Party) -> None:
    customer_header = alice.app.defaults["HTTP_AUTHORIZATION"]
    terminal_header = alice.register.defaults["HTTP_AUTHORIZATION"]
    as_terminal = APIClient(HTTP_AUTHORIZATION="Terminal " + customer_header.split()[1])
    as_customer = APIClient(HTTP_AUTHORIZATION="Bearer " + terminal_header.split()[1])
    assert as_terminal.get(reverse("api:terminal_payments")).status_code == 401
    assert as_customer.get(reverse("api:wallet")).status_code == 401
    assert alice.register.get(reverse("api:wallet_activity_detail", kwargs={"transaction_id": bob.transaction_id})).status_code == 401
