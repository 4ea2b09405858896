"""The money API as the customer app and a store register use it: balance, history,
cards, top-ups with step-up, payment codes; payments, refunds and cash top-ups at a
terminal; Idempotency-Key semantics (B06) and refusals as {detail, code}."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api_clients import customer_client, issue_code, new_key, post_money, terminal_client
from tests.money import fund_wallet, make_card, make_terminal
from wallet.models import AccountFreeze, GatewayCharge, IdempotencyRecord, Merchant, Payment, Terminal, TopUp, User
from wallet.selectors import wallet_balance
from wallet.services.holds import wallet_lock
from wallet.services.idempotency import idempotency_purge
from wallet.services.switches import channel_switch_set
from wallet.services.terminals import merchant_create, terminal_authenticate, terminal_create, terminal_key_rotate

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(customer: User) -> APIClient:
    return customer_client(customer)


@pytest.fixture
def register() -> tuple[Terminal, APIClient]:
    terminal, key = make_terminal(merchant_code="sunrise-bakery")
    return terminal, terminal_client(key)


def pay(register: tuple[Terminal, APIClient], app: APIClient, amount: int, key: str | None = None, **extra: Any) -> Any:
    body = {"code": issue_code(app), "amount_yen": amount, **extra}
    return post_money(register[1], "terminal_payments", body, key or new_key())


# --- customer: wallet, history, receipts -------------------------------------------------


def test_wallet_shows_balance_lock_state_and_limits(app: APIClient, customer: User) -> None:
    fund_wallet(customer, 3_000)
    body = app.get(reverse("api:wallet")).json()
    assert body["balance_yen"] == 3_000 and body["balance_max_yen"] == 300_000
    assert body["locked"] is False and body["locked_by_you"] is False and body["topups_blocked"] is False
    limits = {limit["kind"]: limit for limit in body["limits"]}
    assert set(limits) == {"topup.card", "topup.cash", "payment"}
    assert limits["topup.card"]["per_charge_max_yen"] == 20_000
    assert "global_per_day_max_yen" not in limits["topup.card"]

    wallet_lock(user=customer)
    body = app.get(reverse("api:wallet")).json()
    assert body["locked"] is True and body["locked_by_you"] is True and body["topups_blocked"] is False


def test_paying_at_a_register_shows_in_the_history_and_receipt(
    app: APIClient, customer: User, register: tuple[Terminal, APIClient]
) -> None:
    fund_wallet(customer, 5_000)
    paid = pay(register, app, 1_200, description="Melon bread")
    assert paid.status_code == 201, paid.json()
    assert paid.json()["amount_yen"] == 1_200 and paid.json()["refundable_yen"] == 1_200
    assert "user" not in paid.json() and customer.email not in paid.content.decode()  # a register learns nothing about who paid

    assert app.get(reverse("api:wallet")).json()["balance_yen"] == 3_800
    history = app.get(reverse("api:wallet_activity")).json()
    assert [(line["kind"], line["amount_yen"]) for line in history["results"]] == [("payment", -1_200), ("topup", 5_000)]
    payment_line = history["results"][0]
    assert payment_line["merchant"] == "Store sunrise-bakery" and payment_line["card"] is None
    assert history["results"][1]["channel"] == "charge.store_register"

    receipt = app.get(reverse("api:wallet_activity_detail", kwargs={"transaction_id": payment_line["id"]}))
    assert receipt.status_code == 200 and receipt.json() == payment_line


def test_history_filters_and_pages(app: APIClient, customer: User, register: tuple[Terminal, APIClient]) -> None:
    fund_wallet(customer, 10_000)
    for amount in (100, 200, 300):
        assert pay(register, app, amount).status_code == 201

    payments = app.get(reverse("api:wallet_activity"), {"kind": "payment"}).json()["results"]
    assert [line["amount_yen"] for line in payments] == [-300, -200, -100]
    first = app.get(reverse("api:wallet_activity"), {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = app.get(first["next"]).json()
    assert [line["amount_yen"] for line in second["results"]] == [-100, 10_000] and second["next"] is None

    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert app.get(reverse("api:wallet_activity"), {"date_from": tomorrow}).json()["results"] == []
    assert len(app.get(reverse("api:wallet_activity"), {"date_to": tomorrow}).json()["results"]) == 4
    bad = app.get(reverse("api:wallet_activity"), {"date_from": "yesterday", "kind": "mint"})
    assert bad.status_code == 400 and set(bad.json()) == {"date_from", "kind"}
    assert app.get(reverse("api:wallet_activity"), {"cursor": "not-a-cursor"}).status_code == 404


def test_cards_list_only_active_cards_without_card_numbers(app: APIClient, customer: User) -> None:
    card = make_card(customer, last4="4242")
    removed = make_card(customer, last4="1881")
    removed.status = removed.Status.REMOVED
    removed.save()
    body = app.get(reverse("api:cards")).json()
    assert [(c["id"], c["last4"], c["brand"], c["funding"]) for c in body] == [(card.pk, "4242", "visa", "credit")]
    assert "gateway_token" not in body[0] and "fingerprint" not in body[0]


def test_payment_code_replaces_the_previous_one(app: APIClient, customer: User, register: tuple[Terminal, APIClient]) -> None:
    fund_wallet(customer, 1_000)
    first = app.post(reverse("api:wallet_payment_code"))
    assert first.status_code == 201 and len(first.json()["code"]) == 18 and first.json()["expires_at"]
    issue_code(app)
    stale = post_money(register[1], "terminal_payments", {"code": first.json()["code"], "amount_yen": 100}, new_key())
    assert stale.status_code == 404 and stale.json()["code"] == "invalid_payment_code"


# --- customer: card top-ups ------------------------------------------------------------


def test_card_topup_needs_a_fresh_step_up(customer: User) -> None:
    card = make_card(customer)
    stale = customer_client(customer)
    refused = post_money(stale, "topups", {"card_id": card.pk, "amount_yen": 5_000}, new_key())
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert not TopUp.objects.exists() and not IdempotencyRecord.objects.exists()

    fresh = customer_client(customer, step_up=True)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert post_money(fresh, "topups", {"card_id": card.pk, "amount_yen": 5_000}, new_key()).status_code == 403


def test_card_topup_credits_the_wallet_and_replays_the_same_answer(customer: User) -> None:
    card = make_card(customer)
    app = customer_client(customer, step_up=True)
    key = new_key()
    first = post_money(app, "topups", {"card_id": card.pk, "amount_yen": 5_000}, key)
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["status"] == "succeeded" and body["card"] == {"id": card.pk, "brand": "visa", "last4": "4242"}
    assert body["transaction_id"] and "Idempotent-Replayed" not in first.headers

    again = post_money(app, "topups", {"amount_yen": 5_000, "card_id": card.pk}, key)  # key order does not matter
    assert again.status_code == 201 and again.json() == body and again.headers["Idempotent-Replayed"] == "true"
    assert wallet_balance(customer) == 5_000
    assert TopUp.objects.count() == 1 and GatewayCharge.objects.count() == 1

    other = post_money(app, "topups", {"card_id": card.pk, "amount_yen": 6_000}, key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert wallet_balance(customer) == 5_000 and TopUp.objects.count() == 1

    detail = app.get(reverse("api:topup_detail", kwargs={"topup_id": body["id"]}))
    assert detail.status_code == 200 and detail.json()["status"] == "succeeded"


def test_declined_card_is_recorded_and_nothing_is_credited(customer: User) -> None:
    card = make_card(customer, behaviour="decline")
    app = customer_client(customer, step_up=True)
    response = post_money(app, "topups", {"card_id": card.pk, "amount_yen": 3_000}, new_key())
    assert response.status_code == 201
    assert response.json()["status"] == "declined" and response.json()["failure_code"] == "card_declined"
    assert response.json()["transaction_id"] is None and wallet_balance(customer) == 0


def test_card_topup_over_the_limit_is_refused_with_its_code(customer: User) -> None:
    card = make_card(customer)
    app = customer_client(customer, step_up=True)
    response = post_money(app, "topups", {"card_id": card.pk, "amount_yen": 20_001}, new_key())
    assert response.status_code == 422
    assert response.json()["code"] == "limit_exceeded" and "20,000" in response.json()["detail"]
    assert not TopUp.objects.exists()


def test_topup_to_a_frozen_wallet_is_423(customer: User) -> None:
    card = make_card(customer)
    AccountFreeze.objects.create(user=customer, scope=AccountFreeze.Scope.ALL, source=AccountFreeze.Source.STAFF, reason="fraud check")
    app = customer_client(customer, step_up=True)
    response = post_money(app, "topups", {"card_id": card.pk, "amount_yen": 1_000}, new_key())
    assert response.status_code == 423 and response.json()["code"] == "wallet_frozen"
    assert app.get(reverse("api:wallet")).json()["topups_blocked"] is True


# --- Idempotency-Key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "code"),
    [(None, "idempotency_key_required"), ("has space", "idempotency_key_invalid"), ("x" * 201, "idempotency_key_invalid")],
)
def test_b06_money_requests_need_a_well_formed_idempotency_key(
    app: APIClient, customer: User, register: tuple[Terminal, APIClient], key: str | None, code: str
) -> None:
    fund_wallet(customer, 1_000)
    response = post_money(register[1], "terminal_payments", {"code": issue_code(app), "amount_yen": 100}, key)
    assert response.status_code == 400 and response.json()["code"] == code
    assert "Idempotency-Key" in response.json()["detail"]
    assert not Payment.objects.exists() and wallet_balance(customer) == 1_000


def test_b06_a_refusal_is_stored_and_replayed_too(app: APIClient, customer: User, register: tuple[Terminal, APIClient]) -> None:
    fund_wallet(customer, 500)
    key = new_key()
    code = issue_code(app)
    refused = post_money(register[1], "terminal_payments", {"code": code, "amount_yen": 800}, key)
    assert refused.status_code == 422 and refused.json()["code"] == "insufficient_funds"
    fund_wallet(customer, 500)
    # The same request again is the same request: it gets the stored answer, not a second try.
    replay = post_money(register[1], "terminal_payments", {"code": code, "amount_yen": 800}, key)
    assert replay.status_code == 422 and replay.json() == refused.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert not Payment.objects.exists()


def test_b06_keys_belong_to_their_caller(app: APIClient, customer: User) -> None:
    fund_wallet(customer, 2_000)
    _first, first_key = make_terminal()
    _second, second_key = make_terminal()
    key = "register-receipt-0001"
    one = post_money(terminal_client(first_key), "terminal_payments", {"code": issue_code(app), "amount_yen": 300}, key)
    two = post_money(terminal_client(second_key), "terminal_payments", {"code": issue_code(app), "amount_yen": 300}, key)
    assert one.status_code == two.status_code == 201 and one.json()["id"] != two.json()["id"]
    assert wallet_balance(customer) == 1_400


def test_b06_a_server_error_is_not_stored_and_the_retry_runs(
    app: APIClient, customer: User, register: tuple[Terminal, APIClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet.api import money

    fund_wallet(customer, 1_000)
    real = money.payment_redeem
    calls = {"n": 0}

    def flaky(**kwargs: Any) -> Payment:
        calls["n"] += 1
        payment = real(**kwargs)
        if calls["n"] == 1:
            raise RuntimeError("the process died after the payment was written")
        return payment

    monkeypatch.setattr(money, "payment_redeem", flaky)
    terminal, key = register[0], new_key()
    lenient = APIClient(HTTP_AUTHORIZATION=register[1].defaults["HTTP_AUTHORIZATION"], raise_request_exception=False)
    body = {"code": issue_code(app), "amount_yen": 400}
    assert post_money(lenient, "terminal_payments", body, key).status_code == 500
    assert not IdempotencyRecord.objects.exists() and not Payment.objects.exists()  # all rolled back together
    retry = post_money(lenient, "terminal_payments", body, key)
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert Payment.objects.filter(terminal=terminal).count() == 1 and wallet_balance(customer) == 600


def test_b06_switched_off_channel_is_503_and_not_stored(
    app: APIClient, customer: User, register: tuple[Terminal, APIClient], django_capture_on_commit_callbacks: Any
) -> None:
    fund_wallet(customer, 1_000)
    with django_capture_on_commit_callbacks(execute=True):
        channel_switch_set(name="payment.store", enabled=False, reason="incident", acting_user=None)
    key, body = new_key(), {"code": issue_code(app), "amount_yen": 100}
    off = post_money(register[1], "terminal_payments", body, key)
    assert off.status_code == 503 and off.json()["code"] == "channel_disabled" and off.json()["channel"] == "payment.store"
    assert not IdempotencyRecord.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        channel_switch_set(name="payment.store", enabled=True, reason="resolved", acting_user=None)
    assert post_money(register[1], "terminal_payments", body, key).status_code == 201


def test_b06_purge_forgets_answers_after_the_retention(app: APIClient, customer: User, register: tuple[Terminal, APIClient]) -> None:
    fund_wallet(customer, 1_000)
    assert pay(register, app, 100).status_code == 201
    assert idempotency_purge() == 0
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert idempotency_purge(batch_size=1) == 1
    assert not IdempotencyRecord.objects.exists() and Payment.objects.count() == 1


# --- terminals: refunds and cash --------------------------------------------------------


def test_partial_and_full_refunds_return_money_to_the_wallet(app: APIClient, customer: User, register: tuple[Terminal, APIClient]) -> None:
    fund_wallet(customer, 5_000)
    payment = pay(register, app, 3_000).json()
    refunds = "terminal_payment_refunds"
    part = post_money(register[1], refunds, {"amount_yen": 1_000}, new_key(), payment_id=payment["id"])
    assert part.status_code == 201, part.json()
    assert part.json()["payment"]["status"] == "partially_refunded" and part.json()["payment"]["refundable_yen"] == 2_000
    too_much = post_money(register[1], refunds, {"amount_yen": 2_001}, new_key(), payment_id=payment["id"])
    assert too_much.status_code == 422 and too_much.json()["code"] == "refund_too_large"
    rest = post_money(register[1], refunds, {"amount_yen": 2_000}, new_key(), payment_id=payment["id"])
    assert rest.status_code == 201 and rest.json()["payment"]["status"] == "refunded"
    assert [r["amount_yen"] for r in rest.json()["payment"]["refunds"]] == [1_000, 2_000]
    assert wallet_balance(customer) == 5_000

    detail = register[1].get(reverse("api:terminal_payment_detail", kwargs={"payment_id": payment["id"]})).json()
    assert detail["refunded_yen"] == 3_000 and detail["refundable_yen"] == 0
    history = app.get(reverse("api:wallet_activity"), {"kind": "payment_refund"}).json()["results"]
    assert [line["amount_yen"] for line in history] == [2_000, 1_000] and history[0]["merchant"] == "Store sunrise-bakery"


def test_refund_key_reused_for_another_payment_is_refused(app: APIClient, customer: User, register: tuple[Terminal, APIClient]) -> None:
    fund_wallet(customer, 5_000)
    first, second = pay(register, app, 1_000).json(), pay(register, app, 1_000).json()
    key = new_key()
    assert post_money(register[1], "terminal_payment_refunds", {"amount_yen": 500}, key, payment_id=first["id"]).status_code == 201
    reused = post_money(register[1], "terminal_payment_refunds", {"amount_yen": 500}, key, payment_id=second["id"])
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert Payment.objects.get(public_id=second["id"]).refunded_yen == 0


@pytest.mark.parametrize(("kind", "channel"), [("store_register", "charge.store_register"), ("atm", "charge.atm")])
def test_cash_topup_channel_follows_the_terminal_kind(app: APIClient, customer: User, kind: str, channel: str) -> None:
    _terminal, key = make_terminal(kind=kind)
    response = post_money(terminal_client(key), "terminal_topups", {"code": issue_code(app), "amount_yen": 10_000}, new_key())
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "succeeded" and response.json()["channel"] == channel
    assert customer.email not in response.content.decode()
    assert wallet_balance(customer) == 10_000


def test_terminal_payment_list_is_newest_first_with_refunds(app: APIClient, customer: User, register: tuple[Terminal, APIClient]) -> None:
    fund_wallet(customer, 5_000)
    pay(register, app, 100)
    pay(register, app, 200)
    listed = register[1].get(reverse("api:terminal_payments")).json()
    assert [p["amount_yen"] for p in listed["results"]] == [200, 100] and listed["next"] is None
    assert listed["results"][0]["terminal"] == register[0].name and listed["results"][0]["refunds"] == []


# --- credentials -------------------------------------------------------------------------


def test_customer_and_terminal_credentials_do_not_cross(app: APIClient, customer: User, register: tuple[Terminal, APIClient]) -> None:
    terminal = register[1]
    for url in ("api:wallet", "api:wallet_activity", "api:cards"):
        response = terminal.get(reverse(url))
        assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert terminal.post(reverse("api:wallet_payment_code")).status_code == 401
    response = app.get(reverse("api:terminal_payments"))
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Terminal"
    fund_wallet(customer, 1_000)
    assert post_money(app, "terminal_payments", {"code": issue_code(app), "amount_yen": 100}, new_key()).status_code == 401
    assert wallet_balance(customer) == 1_000


def test_customer_token_without_second_factor_is_refused(customer: User) -> None:
    from wallet.api.authentication import api_token_issue

    _token, key = api_token_issue(user=customer, label="limited", second_factor=False)
    response = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}").get(reverse("api:wallet"))
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_terminal_key_is_shown_once_and_stored_as_digest() -> None:
    merchant = merchant_create(name="Lawson Shibuya", code="lawson-shibuya")
    terminal, key = terminal_create(merchant=merchant, name="Register 1", kind=Terminal.Kind.STORE_REGISTER)
    assert key.startswith(f"apt_{terminal.key_prefix}_") and key not in terminal.key_digest
    assert terminal_authenticate(key) == terminal
    assert terminal_authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert terminal_authenticate("apt_nonsense") is None

    rotated, new = terminal_key_rotate(terminal=terminal)
    assert terminal_authenticate(key) is None and terminal_authenticate(new) == rotated

    Terminal.objects.filter(pk=terminal.pk).update(is_active=False)
    assert terminal_authenticate(new) is None
    Terminal.objects.filter(pk=terminal.pk).update(is_active=True)
    Merchant.objects.filter(pk=merchant.pk).update(is_active=False)
    assert terminal_authenticate(new) is None


def test_terminal_last_used_is_written_at_most_once_a_minute() -> None:
    terminal, key = make_terminal()
    first = terminal_authenticate(key)
    assert first is not None and first.last_used_at is not None
    stamp = first.last_used_at
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        terminal_authenticate(key)
    terminal.refresh_from_db()
    assert terminal.last_used_at == stamp
    with time_machine.travel(timezone.now() + timedelta(seconds=90)):
        terminal_authenticate(key)
    terminal.refresh_from_db()
    assert terminal.last_used_at > stamp


def test_terminal_create_command_prints_the_key_once() -> None:
    out = StringIO()
    call_command("terminal_create", merchant="seven-atm", merchant_name="Seven Bank", name="ATM 12", kind="atm", stdout=out)
    key = next(line.split(": ", 1)[1] for line in out.getvalue().splitlines() if line.startswith("API key: "))
    terminal = terminal_authenticate(key)
    assert terminal is not None and terminal.kind == "atm" and terminal.merchant.name == "Seven Bank"
    assert key not in str(list(Terminal.objects.values()))


def test_schema_documents_every_money_endpoint(client: Any) -> None:
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    money_posts = [
        "/api/v1/topups/",
        "/api/v1/terminal/payments/",
        "/api/v1/terminal/payments/{payment_id}/refunds/",
        "/api/v1/terminal/topups/",
    ]
    for path in money_posts:
        operation = paths[path]["post"]
        header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
        assert header["in"] == "header" and header["required"] is True
        assert {"201", "400", "401", "404", "422", "503"} <= set(operation["responses"])
    assert paths["/api/v1/wallet/"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/v1/terminal/payments/"]["get"]["security"] == [{"terminalKey": []}]
