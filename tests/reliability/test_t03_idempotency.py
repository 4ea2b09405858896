"""T3 (B06): the same Idempotency-Key sent many times at once through the real API.

Every request runs in its own thread with its own PostgreSQL connection, released
together. Pass: one effect, every answer identical (status and body), all but one
marked as replays; the same key with another amount is a 4xx and changes nothing.

PostgreSQL allows 100 connections by default and other processes use some, so at
most `free connections − 10` requests are in flight at once (100 when the server
has room); every one of the 100 requests still races the others.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.api_clients import customer_client, issue_code, post_money, terminal_client
from tests.factories import funded_customer, make_card, make_customer, make_terminal
from tests.helpers import connections_for_threads
from wallet.models import GatewayCharge, IdempotencyRecord, Payment, TopUp, User
from wallet.selectors import wallet_balance
from wallet.services.ledger_audit import ledger_verify

REQUESTS = 100

pytestmark = pytest.mark.django_db(transaction=True)


def parallelism() -> int:
    """Requests in flight at once: within the connection budget (tests/helpers.py)."""
    return connections_for_threads(REQUESTS)


Answer = tuple[int, str, bool]


def storm(send: Callable[[int], Any]) -> list[Answer]:
    """Run send(i) for i in 0..REQUESTS-1 from a thread pool, all released together."""
    workers = parallelism()
    go = threading.Event()

    def one(i: int) -> Answer:
        try:
            go.wait()
            response = send(i)
            return response.status_code, json.dumps(response.json(), sort_keys=True), response.headers.get("Idempotent-Replayed") == "true"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(one, i) for i in range(REQUESTS)]
        go.set()
        answers = [future.result() for future in futures]
    print(f"\nT3: {REQUESTS} requests, {workers} in flight at once; outcomes {dict(Counter(status for status, _b, _r in answers))}")
    return answers


def assert_one_answer(answers: list[Answer], status: int) -> dict[str, Any]:
    assert len(answers) == REQUESTS
    assert {(code, body) for code, body, _replayed in answers} == {(code, body) for code, body, _r in answers[:1]}
    assert answers[0][0] == status, answers[0]
    assert sum(replayed for _c, _b, replayed in answers) == REQUESTS - 1
    return dict(json.loads(answers[0][1]))


def funded_customer_app(email: str, amount_yen: int) -> tuple[User, APIClient]:
    """A customer with money in the wallet, and their phone app signed in."""
    user = funded_customer(email, amount_yen)
    return user, customer_client(user)


def test_t03_same_key_100_times_in_parallel_pays_once_with_100_identical_answers() -> None:
    user, app = funded_customer_app("t3-pay@example.jp", 10_000)
    terminal, key = make_terminal()
    body = {"code": issue_code(app), "amount_yen": 1_000, "description": "Bento"}

    answers = storm(lambda _i: post_money(terminal_client(key), "terminal_payments", body, "register-7-receipt-0042"))

    paid = assert_one_answer(answers, 201)
    assert Payment.objects.filter(terminal=terminal).count() == 1
    assert str(Payment.objects.get().public_id) == paid["id"]
    assert wallet_balance(user) == 9_000
    assert IdempotencyRecord.objects.filter(key="register-7-receipt-0042").count() == 1

    other = post_money(terminal_client(key), "terminal_payments", {**body, "amount_yen": 2_000}, "register-7-receipt-0042")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1 and wallet_balance(user) == 9_000
    report = ledger_verify()
    assert report.ok, "\n".join(report.lines())


def test_t03_same_key_with_two_amounts_in_parallel_has_one_effect_and_the_rest_refused() -> None:
    user, app = funded_customer_app("t3-mixed@example.jp", 10_000)
    _terminal, key = make_terminal()
    code = issue_code(app)

    answers = storm(
        lambda i: post_money(terminal_client(key), "terminal_payments", {"code": code, "amount_yen": 1_000 + 1_000 * (i % 2)}, "mixed-key")
    )

    assert Payment.objects.count() == 1
    paid = Payment.objects.get()
    assert wallet_balance(user) == 10_000 - paid.amount_yen
    winners = [a for a in answers if a[0] == 201]
    losers = [a for a in answers if a[0] != 201]
    assert len({body for _c, body, _r in winners}) == 1 and len(winners) == REQUESTS // 2
    assert {(status, json.loads(body)["code"]) for status, body, _r in losers} == {(422, "idempotency_key_reused")}


def test_t03_card_topup_same_key_100_times_in_parallel_charges_the_card_once() -> None:
    user = make_customer("t3-card@example.jp")
    card = make_card(user)
    token_header = customer_client(user, step_up=True).defaults["HTTP_AUTHORIZATION"]

    answers = storm(
        lambda _i: post_money(
            APIClient(HTTP_AUTHORIZATION=token_header), "topups", {"card_id": card.pk, "amount_yen": 7_000}, "app-topup-2026-11-25"
        )
    )

    topup = assert_one_answer(answers, 201)
    assert topup["status"] == "succeeded"
    assert TopUp.objects.count() == 1 and GatewayCharge.objects.count() == 1
    assert wallet_balance(user) == 7_000
    other = post_money(
        APIClient(HTTP_AUTHORIZATION=token_header), "topups", {"card_id": card.pk, "amount_yen": 8_000}, "app-topup-2026-11-25"
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert wallet_balance(user) == 7_000 and GatewayCharge.objects.count() == 1
