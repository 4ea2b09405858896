"""Cards through the card-gateway adapter: the hosted page, the adapter, the services and pages."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import enrol_totp, make_customer
from tests.wallet.test_account import verified_client
from wallet.adapters.cards import (
    DevCardGateway,
    GatewayError,
    GatewayTimeout,
    IdempotencyKeyReused,
    get_card_gateway,
)
from wallet.models import Card, CardRegistration, GatewayCharge, GatewaySession, Notification, RiskDecision, RiskOutcome, User
from wallet.services.cards import CardRegistrationBlocked, card_registration_start

VISA = "4242424242424242"
VISA_DEBIT = "4000056655665556"
MASTERCARD = "5555555555554444"
JCB = "3530111333300000"
THREE_DS = "4000000000003220"
DECLINES = "4000000000000002"
NO_FUNDS = "4000000000009995"
TIMES_OUT = "4000000000000119"
ALL_TEST_CARDS = [VISA, VISA_DEBIT, MASTERCARD, JCB, THREE_DS, DECLINES, NO_FUNDS, TIMES_OUT]
BANK_APP_CODE = re.compile(r'class="secret">(\d{6})<')


@dataclass
class Flow:
    """The pages one add-card attempt went through."""

    gateway_url: str
    gateway: Any  # the last hosted-page response
    back: Any  # our return page's response, when the gateway sent the customer back (else None)

    @property
    def registration(self) -> CardRegistration:
        return CardRegistration.objects.get(gateway_session=self.gateway_url.rstrip("/").split("/")[-1])


def card_details(card_number: str, **overrides: str) -> dict[str, str]:
    data = {"number": card_number, "expiry": "12/34", "security_code": "123", "holder": "HANAKO YAMADA"}
    data.update(overrides)
    return data


def add_card(client: Client, number: str, *, three_ds_code: str | None = None, **details: str) -> Flow:
    """Press "Add a card", fill the hosted page, answer 3-D Secure, come back."""
    started = client.post(reverse("wallet:card_add"))
    assert started.status_code == 302, started.content.decode()[:500]
    gateway_url = started["Location"]
    response = client.post(gateway_url, card_details(number, **details))
    if response.status_code == 302 and response["Location"].endswith("/challenge/"):
        page = client.get(response["Location"])
        shown = BANK_APP_CODE.search(page.content.decode())
        assert shown, "the challenge page shows the bank app's code"
        response = client.post(response["Location"], {"code": three_ds_code or shown.group(1)})
    if response.status_code != 302:
        return Flow(gateway_url, response, None)
    back = urlparse(response["Location"])
    return Flow(gateway_url, response, client.get(f"{back.path}?{back.query}"))


@pytest.fixture
def client_for(db: None) -> Iterator[object]:
    def make(user: User | None = None) -> Client:
        user = user or make_customer(email=f"c{User.objects.count()}@example.jp")
        return verified_client(user, enrol_totp(user))

    yield make


@pytest.fixture
def browser(customer: User, customer_totp: TOTPDevice) -> Client:
    return verified_client(customer, customer_totp)


def fingerprint_of(number: str) -> str:
    return hmac.new(settings.CARD_GATEWAY_SECRET.encode(), number.encode(), hashlib.sha256).hexdigest()


# -- the hosted page and registration --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "brand", "funding"),
    [
        (VISA, "visa", "credit"),
        (VISA_DEBIT, "visa", "debit"),
        (MASTERCARD, "mastercard", "credit"),
        (JCB, "jcb", "credit"),
        (THREE_DS, "visa", "credit"),
        (DECLINES, "visa", "credit"),
        (NO_FUNDS, "visa", "credit"),
        (TIMES_OUT, "visa", "credit"),
    ],
)
def test_each_test_card_is_added_with_brand_last_four_expiry_and_funding(
    browser: Client, customer: User, number: str, brand: str, funding: str
) -> None:
    flow = add_card(browser, number)
    assert flow.back is not None and flow.back.status_code == 302 and flow.back["Location"] == reverse("wallet:cards")
    card = Card.objects.get(user=customer)
    assert (card.brand, card.last4, card.exp_month, card.exp_year, card.funding) == (brand, number[-4:], 12, 2034, funding)
    assert card.fingerprint == fingerprint_of(number)
    assert card.status == Card.Status.ACTIVE and card.gateway_token.startswith("tok_")
    page = browser.get(reverse("wallet:cards")).content.decode()
    assert f"{brand.upper()} •••• {number[-4:]}" in page and "12/2034" in page
    assert flow.registration.status == CardRegistration.Status.COMPLETED and flow.registration.card == card


@pytest.mark.django_db
def test_three_ds_challenge_passed_is_reported_by_the_gateway(browser: Client, client_for) -> None:  # type: ignore[no-untyped-def]
    flow = add_card(browser, THREE_DS)
    result = get_card_gateway().hosted_session_result(session_id=flow.registration.gateway_session)
    assert result is not None and result.ok and result.three_ds == "passed"
    plain = add_card(client_for(), VISA)
    assert get_card_gateway().hosted_session_result(session_id=plain.registration.gateway_session).three_ds == "not_enrolled"  # type: ignore[union-attr]


@pytest.mark.django_db
def test_three_ds_wrong_code_adds_no_card(browser: Client, customer: User) -> None:
    flow = add_card(browser, THREE_DS, three_ds_code="000001")
    assert flow.back is not None and flow.back.status_code == 400
    assert "3-D Secure" in flow.back.content.decode()
    assert not Card.objects.filter(user=customer).exists()
    assert flow.registration.failure_code == "three_ds_failed"


@pytest.mark.django_db
def test_cancel_on_the_card_page_adds_no_card(browser: Client, customer: User) -> None:
    gateway_url = browser.post(reverse("wallet:card_add"))["Location"]
    back = browser.post(gateway_url.rstrip("/") + "/cancel/")
    page = browser.get(back["Location"])
    assert page.status_code == 400 and "You cancelled" in page.content.decode()
    assert not Card.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"number": "4242424242424241"}, "card number is not valid"),
        ({"number": "4111111111111111"}, "use one of the test cards"),
        ({"expiry": "01/20"}, "This card has expired"),
        ({"expiry": "13/30"}, "Enter the expiry as MM/YY"),
        ({"security_code": "12"}, "3 or 4 digit security code"),
        ({"holder": ""}, "This field is required"),
    ],
)
def test_card_page_explains_bad_input_and_keeps_the_page_open(browser: Client, details: dict[str, str], message: str) -> None:
    gateway_url = browser.post(reverse("wallet:card_add"))["Location"]
    response = browser.post(gateway_url, card_details(VISA, **details))
    assert response.status_code == 400
    assert message in response.content.decode()
    session = GatewaySession.objects.get()
    assert not session.result_token and not session.failure_code and session.security_code_failures == 0


@pytest.mark.django_db
def test_full_width_digits_and_spaces_are_accepted(browser: Client, customer: User) -> None:
    add_card(browser, "４２４２ ４２４２ ４２４２ ４２４２", security_code="１２３", expiry="12 / 34")
    assert Card.objects.get(user=customer).last4 == "4242"


@pytest.mark.django_db
def test_same_card_on_two_wallets_shows_one_fingerprint(client_for) -> None:  # type: ignore[no-untyped-def]
    add_card(client_for(), VISA)
    add_card(client_for(), VISA)
    first, second = Card.objects.order_by("pk")
    assert first.fingerprint == second.fingerprint == fingerprint_of(VISA)
    assert first.gateway_token != second.gateway_token


@pytest.mark.django_db
def test_same_card_twice_on_one_wallet_is_refused(browser: Client, customer: User) -> None:
    add_card(browser, VISA)
    again = add_card(browser, "4242 4242 4242 4242")
    assert again.back is not None and again.back.status_code == 400
    assert "already in your wallet" in again.back.content.decode()
    assert Card.objects.filter(user=customer).count() == 1


@pytest.mark.django_db
def test_return_before_finishing_the_card_page_says_so(browser: Client, customer: User) -> None:
    browser.post(reverse("wallet:card_add"))
    registration = CardRegistration.objects.get(user=customer)
    page = browser.get(reverse("wallet:card_return", args=[registration.public_id]))
    assert page.status_code == 409 and "not finished" in page.content.decode()
    registration.refresh_from_db()
    assert registration.status == CardRegistration.Status.STARTED


@pytest.mark.django_db
def test_abandoned_card_page_expires(browser: Client, customer: User, customer_totp: TOTPDevice) -> None:
    gateway_url = browser.post(reverse("wallet:card_add"))["Location"]
    registration = CardRegistration.objects.get(user=customer)
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert browser.post(gateway_url, card_details(VISA)).status_code == 302
        page = verified_client(customer, customer_totp).get(reverse("wallet:card_return", args=[registration.public_id]))
    assert page.status_code == 400 and "timed out" in page.content.decode()
    assert not Card.objects.exists()


@pytest.mark.django_db
def test_reloading_the_return_page_keeps_one_card(browser: Client, customer: User) -> None:
    flow = add_card(browser, VISA)
    again = browser.get(reverse("wallet:card_return", args=[flow.registration.public_id]))
    assert again.status_code == 302
    assert Card.objects.filter(user=customer).count() == 1
    assert Notification.objects.filter(kind="card_added").count() == 1


@pytest.mark.django_db
def test_b08_another_customers_registration_is_not_found(browser: Client, client_for) -> None:  # type: ignore[no-untyped-def]
    flow = add_card(browser, VISA)
    stranger = client_for()
    assert stranger.get(reverse("wallet:card_return", args=[flow.registration.public_id])).status_code == 404


@pytest.mark.django_db
def test_b08_cards_page_lists_only_own_active_cards(browser: Client, customer: User, client_for) -> None:  # type: ignore[no-untyped-def]
    add_card(browser, VISA)
    add_card(client_for(), MASTERCARD)
    Card.objects.filter(user=customer).update(status=Card.Status.REMOVED)
    add_card(browser, JCB)
    page = browser.get(reverse("wallet:cards")).content.decode()
    assert "JCB •••• 0000" in page and "4444" not in page and "VISA •••• 4242" not in page


@pytest.mark.django_db(transaction=True)
def test_card_added_and_removed_are_mailed(customer: User, customer_totp: TOTPDevice) -> None:
    browser = verified_client(customer, customer_totp)
    add_card(browser, MASTERCARD)
    assert mail.outbox[-1].to == [customer.email]
    assert "MASTERCARD card ending in 4444 was added" in mail.outbox[-1].body
    card = Card.objects.get()
    confirm = browser.get(reverse("wallet:card_remove", args=[card.pk]))
    assert confirm.status_code == 200 and "ending in 4444" in confirm.content.decode()
    assert browser.post(reverse("wallet:card_remove", args=[card.pk])).status_code == 302
    card.refresh_from_db()
    assert card.status == Card.Status.REMOVED and card.removed_at is not None
    assert "MASTERCARD card ending in 4444 was removed" in mail.outbox[-1].body
    assert [n.context for n in Notification.objects.order_by("pk")] == [{"brand": "MASTERCARD", "last4": "4444", "funding": "credit"}] * 2


@pytest.mark.django_db
def test_b08_another_customers_card_cannot_be_removed(browser: Client, client_for) -> None:  # type: ignore[no-untyped-def]
    add_card(browser, VISA)
    card = Card.objects.get()
    stranger = client_for()
    assert stranger.get(reverse("wallet:card_remove", args=[card.pk])).status_code == 404
    assert stranger.post(reverse("wallet:card_remove", args=[card.pk])).status_code == 404
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE


@pytest.mark.django_db
def test_a_removed_card_can_be_added_again(browser: Client, customer: User) -> None:
    add_card(browser, VISA)
    browser.post(reverse("wallet:card_remove", args=[Card.objects.get().pk]))
    add_card(browser, VISA)
    assert list(Card.objects.filter(user=customer).values_list("status", flat=True).order_by("pk")) == ["removed", "active"]


@pytest.mark.django_db
def test_risk_block_refuses_the_registration_and_keeps_the_decision(
    customer: User, customer_totp: TOTPDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet.services import cards as card_services

    def block(**kwargs: object) -> RiskDecision:
        return RiskDecision.objects.create(event="card_register", outcome=RiskOutcome.BLOCK, user=customer)

    monkeypatch.setattr(card_services, "risk_assess", block)
    with pytest.raises(CardRegistrationBlocked):
        card_registration_start(user=customer, return_url="https://example.jp/back")
    assert RiskDecision.objects.filter(outcome=RiskOutcome.BLOCK).count() == 1
    assert not CardRegistration.objects.exists() and not GatewaySession.objects.exists()


@pytest.mark.django_db
def test_each_registration_is_risk_scored_with_the_card_fingerprint(browser: Client) -> None:
    add_card(browser, VISA)
    decisions = list(RiskDecision.objects.filter(event="card_register").order_by("pk").values_list("card_fingerprint", flat=True))
    assert decisions == ["", fingerprint_of(VISA)]


# -- the adapter's charges ---------------------------------------------------------------------


def token_for(client: Client, number: str) -> str:
    add_card(client, number)
    return Card.objects.filter(last4=number[-4:]).latest("pk").gateway_token


@pytest.mark.django_db
def test_get_card_gateway_loads_the_configured_backend_once() -> None:
    assert isinstance(get_card_gateway(), DevCardGateway)
    assert get_card_gateway() is get_card_gateway()


@pytest.mark.django_db
def test_charge_succeeds_and_the_same_key_is_one_charge(browser: Client) -> None:
    gateway, token = get_card_gateway(), token_for(browser, VISA)
    first = gateway.charge(token=token, amount_yen=5000, idempotency_key="topup:1")
    again = gateway.charge(token=token, amount_yen=5000, idempotency_key="topup:1")
    assert first.succeeded and first == again
    assert GatewayCharge.objects.count() == 1
    assert gateway.charge_lookup(idempotency_key="topup:1") == first
    assert gateway.charge_lookup(idempotency_key="topup:2") is None


@pytest.mark.django_db
def test_same_charge_key_with_another_amount_is_refused(browser: Client) -> None:
    gateway, token = get_card_gateway(), token_for(browser, VISA)
    gateway.charge(token=token, amount_yen=5000, idempotency_key="topup:1")
    with pytest.raises(IdempotencyKeyReused):
        gateway.charge(token=token, amount_yen=6000, idempotency_key="topup:1")
    with pytest.raises(GatewayError):
        gateway.charge(token=token, amount_yen=0, idempotency_key="topup:2")


@pytest.mark.django_db
@pytest.mark.parametrize(("number", "code"), [(DECLINES, "card_declined"), (NO_FUNDS, "insufficient_funds")])
def test_declining_test_cards_decline_at_charge(browser: Client, number: str, code: str) -> None:
    gateway = get_card_gateway()
    result = gateway.charge(token=token_for(browser, number), amount_yen=1000, idempotency_key="k")
    assert (result.status, result.decline_code) == ("declined", code)
    assert gateway.charge_lookup(idempotency_key="k") == result


@pytest.mark.django_db
def test_unknown_token_is_declined() -> None:
    result = get_card_gateway().charge(token="tok_nothing", amount_yen=1000, idempotency_key="k")
    assert (result.status, result.decline_code) == ("declined", "invalid_token")


@pytest.mark.django_db
def test_timeout_card_records_the_charge_and_lookup_finds_it(browser: Client) -> None:
    gateway, token = get_card_gateway(), token_for(browser, TIMES_OUT)
    with pytest.raises(GatewayTimeout) as raised:
        gateway.charge(token=token, amount_yen=3000, idempotency_key="topup:9")
    assert TIMES_OUT not in str(raised.value)
    found = gateway.charge_lookup(idempotency_key="topup:9")
    assert found is not None and found.succeeded
    assert gateway.charge(token=token, amount_yen=3000, idempotency_key="topup:9") == found
    assert GatewayCharge.objects.count() == 1


@pytest.mark.django_db
def test_refunds_are_idempotent_and_capped_at_the_charge(browser: Client) -> None:
    gateway = get_card_gateway()
    charge = gateway.charge(token=token_for(browser, VISA), amount_yen=5000, idempotency_key="c")
    first = gateway.refund(charge_id=charge.charge_id, amount_yen=3000, idempotency_key="r1")
    assert first.succeeded and gateway.refund(charge_id=charge.charge_id, amount_yen=3000, idempotency_key="r1") == first
    too_much = gateway.refund(charge_id=charge.charge_id, amount_yen=2001, idempotency_key="r2")
    assert (too_much.status, too_much.failure_code) == ("failed", "amount_too_large")
    assert gateway.refund(charge_id=charge.charge_id, amount_yen=2000, idempotency_key="r3").succeeded
    assert GatewayCharge.objects.get(charge_id=charge.charge_id).refunded_yen == 5000
    assert gateway.refund(charge_id="ch_nope", amount_yen=1, idempotency_key="r4").failure_code == "unknown_charge"
    assert gateway.charge_lookup(idempotency_key="r1") is None


@pytest.mark.django_db
def test_reversals_since_lists_simulated_chargebacks(browser: Client) -> None:
    gateway = get_card_gateway()
    assert isinstance(gateway, DevCardGateway)
    token = token_for(browser, VISA)
    kept = gateway.charge(token=token, amount_yen=5000, idempotency_key="a")
    reversed_charge = gateway.charge(token=token, amount_yen=7000, idempotency_key="b")
    gateway.refund(charge_id=reversed_charge.charge_id, amount_yen=1000, idempotency_key="b-refund")
    before = timezone.now()
    gateway.simulate_reversal(reversed_charge.charge_id)
    reversals = gateway.reversals_since(since=before)
    assert [(r.charge_id, r.idempotency_key, r.amount_yen) for r in reversals] == [(reversed_charge.charge_id, "b", 6000)]
    assert gateway.reversals_since(since=timezone.now() + timedelta(seconds=1)) == []
    assert kept.charge_id not in {r.charge_id for r in reversals}
    assert gateway.refund(charge_id=reversed_charge.charge_id, amount_yen=10, idempotency_key="late").failure_code == "charge_reversed"
