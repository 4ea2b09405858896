"""A12 on the refund portal: the no-login route and the status lookup answer the same (status,
redirect, page, and, as the timing proxy, the very same SQL statements on the request path)
whether or not the details matched an account. The lookup and the sending run in a task."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from refunds.models import ContactProof
from tests.conftest import make_customer
from tests.helpers import SqlStatements
from tests.refunds.factories import bank_claim, funded_customer, make_programme
from wallet.models import DevInboxMessage, Notification
from wallet.services.switches import channel_is_enabled

pytestmark = pytest.mark.django_db


def _strip(html: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", html)


def _answer(url: str, data: dict[str, str], capture: Any, ip: str) -> tuple[Any, ...]:
    visitor = Client(HTTP_ACCEPT_LANGUAGE="en")
    visitor.get(url)  # the form first, as a person would (the session and CSRF cookies exist)
    with SqlStatements() as queries, capture(execute=False) as callbacks:
        started = time.perf_counter()
        response = visitor.post(url, data, REMOTE_ADDR=ip)
        elapsed = time.perf_counter() - started
    page = visitor.get(response["Location"])
    statements = [re.sub(r"\d+", "N", sql) for sql in queries.sql]
    return (response.status_code, response["Location"], page.status_code, _strip(page.content)), statements, len(callbacks), elapsed


def test_a12_contact_route_answers_the_same_for_matching_and_other_details(django_capture_on_commit_callbacks: Any) -> None:
    make_programme()
    funded_customer(amount_yen=1_000)
    make_customer("unverified@example.jp", phone="+819011112222", phone_verified_at=None)
    channel_is_enabled("refund.claims")
    url = reverse("refunds:contact")
    cases = {
        "matching": ("hanako@example.jp", "090-1234-5678"),
        "unknown address": ("nobody@example.jp", "090-1234-5678"),
        "wrong phone": ("hanako@example.jp", "090-8888-7777"),
        "unverified phone": ("unverified@example.jp", "090-1111-2222"),
    }
    results = {}
    for index, (name, (email, phone)) in enumerate(cases.items()):
        data = {"email": email, "phone": phone, "full_name": "山田 花子", "birth_date": "1990-04-01"}
        results[name] = _answer(url, data, django_capture_on_commit_callbacks, f"10.55.0.{index}")
    answers = {name: result[0] for name, result in results.items()}
    statements = {name: result[1] for name, result in results.items()}
    print(
        "A12 refund contact: statements",
        {n: len(s) for n, s in statements.items()},
        "ms",
        {n: round(r[3] * 1000, 1) for n, r in results.items()},
    )
    assert len(set(answers.values())) == 1, answers
    assert answers["matching"][0] == 302 and answers["matching"][1] == reverse("refunds:contact_sent")
    # Timing proxy: the request path runs the same statements; the account is looked up after the response.
    assert len({tuple(s) for s in statements.values()}) == 1
    assert {result[2] for result in results.values()} == {1}, "one task queued on commit, whatever matched"
    assert not ContactProof.objects.exists() and not DevInboxMessage.objects.exists(), "nothing sent on the request path"


def test_a12_the_task_sends_only_for_the_matching_details(django_capture_on_commit_callbacks: Any) -> None:
    make_programme()
    holder = funded_customer(amount_yen=1_000)
    for email, phone in [
        ("nobody@example.jp", "090-1234-5678"),
        ("hanako@example.jp", "090-8888-7777"),
        ("hanako@example.jp", "090-1234-5678"),
    ]:
        with django_capture_on_commit_callbacks(execute=True):
            Client().post(reverse("refunds:contact"), {"email": email, "phone": phone, "full_name": "x", "birth_date": "1990-04-01"})
    assert ContactProof.objects.filter(user=holder).count() == 1 and ContactProof.objects.count() == 1
    assert Notification.objects.filter(kind="refund_contact_link").count() == 1


def test_a12_a_spent_per_address_limit_answers_the_same(django_capture_on_commit_callbacks: Any) -> None:
    make_programme()
    funded_customer(amount_yen=1_000)
    data = {"email": "hanako@example.jp", "phone": "090-1234-5678", "full_name": "x", "birth_date": "1990-04-01"}
    locations = set()
    for index in range(8):
        with django_capture_on_commit_callbacks(execute=True):
            response = Client().post(reverse("refunds:contact"), data, REMOTE_ADDR=f"10.56.0.{index}")
        locations.add((response.status_code, response["Location"]))
    assert locations == {(302, reverse("refunds:contact_sent"))}
    assert ContactProof.objects.count() == 5, "the per-address limit (5 an hour) bounds the mails and SMS"


def test_a12_status_lookup_answers_the_same(django_capture_on_commit_callbacks: Any) -> None:
    make_programme()
    holder = funded_customer(amount_yen=1_000)
    claim = bank_claim(holder, 1_000)
    url = reverse("refunds:status")
    cases = {
        "matching": {"claim_number": claim.number, "email": holder.email},
        "other address": {"claim_number": claim.number, "email": "nobody@example.jp"},
        "unknown number": {"claim_number": "R0000000001", "email": holder.email},
    }
    results = {name: _answer(url, data, django_capture_on_commit_callbacks, f"10.57.0.{i}") for i, (name, data) in enumerate(cases.items())}
    assert len({result[0] for result in results.values()}) == 1
    assert len({tuple(result[1]) for result in results.values()}) == 1
    assert not Notification.objects.filter(kind="refund_status_link").exists(), "nothing mailed on the request path"
