"""B11: the top-up step-up threshold is cumulative over a rolling window, across the web
and the app, so two ¥9,999 top-ups cannot avoid the code one ¥19,998 top-up needs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.api_clients import customer_client, new_key, post_money
from tests.conftest import make_customer
from tests.helpers import race
from tests.money import fund_wallet, make_card
from tests.wallet.test_account import verified_client
from wallet.models import Card, GatewayCharge, IdempotencyRecord, TopUp, User
from wallet.selectors import wallet_balance
from wallet.services.ledger import MoneyError, wallet_account_for
from wallet.services.step_up_policy import StepUpRequired
from wallet.services.topups import topup_card

pytestmark = pytest.mark.django_db

SPLIT = 9_999  # one yen under the ¥10,000 threshold: two of them are ¥19,998
RULE = "Top-ups of ¥10,000 or more in 24 hours, added together, need a fresh code from your authenticator app."


@pytest.fixture
def owner(customer: User, customer_totp: TOTPDevice) -> Client:
    """The customer's browser: signed in with the second factor, no recent step-up."""
    return verified_client(customer, customer_totp, stepped_up=False)


@pytest.fixture
def card(customer: User) -> Card:
    return make_card(customer)


def web_topup(client: Client, card: Card, amount: int) -> Any:
    attempt = client.get(reverse("wallet:topup")).context["form"].initial["attempt"]
    return client.post(reverse("wallet:topup"), {"card": str(card.pk), "amount": str(amount), "attempt": str(attempt)})


def assert_sent_to_step_up(response: Any, card: Card, amount: int) -> None:
    """Redirected to the step-up page, which comes back to the form filled in."""
    assert response.status_code == 302, response.content
    location = urlparse(response["Location"])
    assert location.path == reverse("wallet:step_up")
    back = urlparse(parse_qs(location.query)["next"][0])
    assert back.path == reverse("wallet:topup") and parse_qs(back.query) == {"card": [str(card.pk)], "amount": [str(amount)]}


def assert_topped_up(response: Any) -> TopUp:
    assert response.status_code == 302 and response["Location"].startswith("/"), response.content
    assert urlparse(response["Location"]).path != reverse("wallet:step_up"), "asked for a code"
    return TopUp.objects.latest("id")


def test_b11_two_web_topups_under_the_threshold_ask_for_a_code_on_the_second(
    customer: User, customer_totp: TOTPDevice, owner: Client, card: Card
) -> None:
    assert_topped_up(web_topup(owner, card, SPLIT))
    assert wallet_balance(customer) == SPLIT

    second = web_topup(owner, card, SPLIT)
    assert_sent_to_step_up(second, card, SPLIT)
    # Nothing recorded, nothing charged, and the step-up page says why it asks.
    assert TopUp.objects.count() == 1 and GatewayCharge.objects.count() == 1 and wallet_balance(customer) == SPLIT
    step_up_page = owner.get(second["Location"]).content.decode()
    assert RULE in step_up_page

    # The top-up page explains the rule and how much already counts.
    page = owner.get(reverse("wallet:topup")).content.decode()
    assert RULE in page and "Your top-ups in the last 24 hours: ¥9,999." in page

    # With a fresh code the same top-up goes through.
    stepped = verified_client(customer, customer_totp, stepped_up=True)
    assert_topped_up(web_topup(stepped, card, SPLIT))
    assert wallet_balance(customer) == 2 * SPLIT


def test_b11_an_app_topup_counts_towards_the_web_threshold(customer: User, owner: Client, card: Card) -> None:
    app = customer_client(customer, step_up=True)
    assert post_money(app, "topups", {"card_id": card.pk, "amount_yen": SPLIT}, new_key()).status_code == 201

    assert_sent_to_step_up(web_topup(owner, card, SPLIT), card, SPLIT)
    assert TopUp.objects.count() == 1 and wallet_balance(customer) == SPLIT


def test_b11_a_web_topup_counts_towards_the_app_threshold_and_the_403_says_so(customer: User, owner: Client, card: Card) -> None:
    # Without anything in the window the app's 403 is the plain "step up first".
    stale = customer_client(customer)
    plain = post_money(stale, "topups", {"card_id": card.pk, "amount_yen": 1_000}, new_key())
    assert plain.status_code == 403 and plain.json()["code"] == "permission_denied"
    assert "added together" not in plain.json()["detail"]

    assert_topped_up(web_topup(owner, card, SPLIT))

    key = new_key()
    refused = post_money(stale, "topups", {"card_id": card.pk, "amount_yen": SPLIT}, key)
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert RULE in refused.json()["detail"] and "/api/v1/auth/step-up/" in refused.json()["detail"]
    assert TopUp.objects.count() == 1 and wallet_balance(customer) == SPLIT
    # The refusal is not kept as the key's answer: once the app has stepped up, the same request goes through.
    assert not IdempotencyRecord.objects.filter(key=key).exists()
    fresh = customer_client(customer, step_up=True)
    done = post_money(fresh, "topups", {"card_id": card.pk, "amount_yen": SPLIT}, key)
    assert done.status_code == 201 and done.json()["status"] == "succeeded"
    assert wallet_balance(customer) == 2 * SPLIT


def test_b11_the_window_rolls_a_day_later_no_code_is_asked(customer: User, customer_totp: TOTPDevice, owner: Client, card: Card) -> None:
    assert_topped_up(web_topup(owner, card, SPLIT))
    with time_machine.travel(timezone.now() + timedelta(hours=23, minutes=50), tick=False):
        browser = verified_client(customer, customer_totp, stepped_up=False)  # the old session has timed out
        assert_sent_to_step_up(web_topup(browser, card, SPLIT), card, SPLIT)
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1), tick=False):
        browser = verified_client(customer, customer_totp, stepped_up=False)
        assert_topped_up(web_topup(browser, card, SPLIT))
    assert TopUp.objects.count() == 2 and wallet_balance(customer) == 2 * SPLIT


def test_b11_declined_topups_do_not_count_but_pending_and_cash_ones_do(customer: User, owner: Client, card: Card) -> None:
    declined_card = make_card(customer, behaviour="decline", last4="0002")
    declined = assert_topped_up(web_topup(owner, declined_card, SPLIT))
    assert declined.status == TopUp.Status.DECLINED
    assert assert_topped_up(web_topup(owner, card, SPLIT)).status == TopUp.Status.SUCCEEDED

    other = make_customer("taro@example.jp", phone="+819011112222")
    slow = make_card(other, behaviour="timeout", last4="0003")
    assert topup_card(user=other, card=slow, amount_yen=SPLIT, idempotency_key="slow").status == TopUp.Status.PENDING
    with pytest.raises(StepUpRequired):
        topup_card(user=other, card=make_card(other), amount_yen=SPLIT, idempotency_key="then")

    cash_customer = make_customer("jiro@example.jp", phone="+819033334444")
    fund_wallet(cash_customer, SPLIT)  # cash at a register counts too
    with pytest.raises(StepUpRequired):
        topup_card(user=cash_customer, card=make_card(cash_customer), amount_yen=1, idempotency_key="one-more-yen")


def test_b11_the_top_up_service_enforces_it_for_every_caller(customer: User, card: Card) -> None:
    first = topup_card(user=customer, card=card, amount_yen=SPLIT, idempotency_key="a")
    with pytest.raises(StepUpRequired) as refusal:
        topup_card(user=customer, card=card, amount_yen=SPLIT, idempotency_key="b")
    assert RULE in refusal.value.message and refusal.value.http_status == 403
    assert TopUp.objects.count() == 1 and GatewayCharge.objects.count() == 1
    # A retry of the first request is answered, not refused: it is not a new top-up.
    assert topup_card(user=customer, card=card, amount_yen=SPLIT, idempotency_key="a").pk == first.pk
    assert topup_card(user=customer, card=card, amount_yen=SPLIT, idempotency_key="b", step_up_fresh=True).status == TopUp.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_b11_two_top_ups_sent_at_once_cannot_both_slip_under_the_threshold(customer: User) -> None:
    card = make_card(customer)
    wallet_account_for(customer)
    attempts: list[Callable[[], object]] = [
        partial(topup_card, user=customer, card=card, amount_yen=SPLIT, idempotency_key=key) for key in ("x", "y", "z")
    ]
    outcomes = race(attempts, refusals=(MoneyError,), success="topped up")
    assert outcomes == {"topped up": 1, "step_up_required": 2}
    assert wallet_balance(customer) == SPLIT and GatewayCharge.objects.count() == 1
