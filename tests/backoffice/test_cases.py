"""Cases: one open case per customer (even under concurrent openings), the list
with filters and CSV, the case page with its transactions, pipeline, history,
notes, freezes and compensation; each act once, audited; who may do what."""

from __future__ import annotations

import csv
import io
import re
import secrets
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

import backoffice.admin.cases  # noqa: F401 - registers the case admin before the admin's URLs are built
from backoffice.models import Case, CaseEvent, CaseTransaction, Compensation, StaffAction
from backoffice.services.cases import CaseRefused, case_open_or_join, case_status_set
from tests.factories import fund_wallet, make_customer, make_staff, make_terminal, otp_login, payment_code_for, staff_signed_in
from wallet.models import AccountFreeze, Payment, TopUp, TransactionReport, User
from wallet.services.holds import transaction_report_create
from wallet.services.payments import payment_redeem

pytestmark = pytest.mark.django_db

LIST = "admin:incident_case_list"
DETAIL = "admin:incident_case_detail"


def _staff(client: Client, role: str = "fraud_analyst", email: str = "fraud@anzenpay.example") -> User:
    return staff_signed_in(client, email, role)


def _spend(customer: User, topup_yen: int = 10_000, pay_yen: int = 3_000) -> tuple[TopUp, Payment]:
    register, _key = make_terminal()
    topup = fund_wallet(customer, topup_yen, register)
    code = payment_code_for(user=customer).code
    payment = payment_redeem(terminal=register, code=code, amount_yen=pay_yen, idempotency_key=secrets.token_hex(6))
    return topup, payment


def _case(customer: User, staff: User, *transfers: Any, source: str = Case.Source.MANUAL) -> Case:
    case, _opened = case_open_or_join(
        customer=customer, source=source, acting_user=staff, summary="Suspected takeover", transfers=transfers
    )
    return case


def _token(body: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', body)
    assert match is not None
    return match.group(1)


def _messages(body: str) -> str:
    return " ".join(re.findall(r'<ul class="messagelist">(.*?)</ul>', body, re.S))


# --- the list --------------------------------------------------------------------------------


def test_list_filters_search_and_csv(client: Client) -> None:
    analyst = _staff(client)
    taro, hanako, jiro = make_customer("taro@example.jp"), make_customer("hanako@example.jp"), make_customer("jiro@example.jp")
    topup, payment = _spend(taro)
    open_case = _case(taro, analyst, topup.transfer, payment.transfer, source=Case.Source.REVIEW)
    hunt_case = _case(hanako, analyst, source=Case.Source.HUNT)
    closed = _case(jiro, analyst)
    case_status_set(case=closed, status="not_fraud", acting_user=analyst)

    body = client.get(reverse(LIST)).content.decode()
    assert "taro@example.jp" in body and "hanako@example.jp" in body and "jiro@example.jp" not in body  # open ones by default
    assert "¥13,000" in body
    assert "jiro@example.jp" in client.get(reverse(LIST), {"status": ""}).content.decode()
    assert "jiro@example.jp" in client.get(reverse(LIST), {"status": "not_fraud"}).content.decode()
    by_source = client.get(reverse(LIST), {"source": "hunt"}).content.decode()
    assert "hanako@example.jp" in by_source and "taro@example.jp" not in by_source
    searched = client.get(reverse(LIST), {"q": "TARO"}).content.decode()
    assert reverse(DETAIL, args=[open_case.pk]) in searched and reverse(DETAIL, args=[hunt_case.pk]) not in searched

    response = client.get(reverse("admin:incident_case_export"), {"status": ""})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0][:4] == ["id", "customer", "status", "source"]
    by_email = {row[1]: row for row in rows[1:]}
    assert set(by_email) == {"taro@example.jp", "hanako@example.jp", "jiro@example.jp"}
    assert by_email["taro@example.jp"][7:9] == ["2", "13000"] and by_email["jiro@example.jp"][2] == "not_fraud"
    assert StaffAction.objects.get(action="case.export").after == {"filters": "status=", "rows": 3}


def test_open_a_case_from_the_customer_email_once(client: Client) -> None:
    analyst = _staff(client)
    customer = make_customer("hanako@example.jp")
    page = client.get(reverse(LIST)).content.decode()
    token = _token(page)

    refused = client.post(reverse(LIST), {"email": "nobody@example.jp", "summary": "x", "form_token": token})
    assert refused.status_code == 400 and "No customer has that email address." in refused.content.decode()
    assert client.post(reverse(LIST), {"email": analyst.email, "summary": "x", "form_token": token}).status_code == 400

    data = {"email": "Hanako@Example.jp", "summary": "Called us: wallet drained", "form_token": token}
    first = client.post(reverse(LIST), data, follow=True)
    case = Case.objects.get(customer=customer)
    assert case.source == Case.Source.MANUAL and case.opened_by == analyst and case.summary == "Called us: wallet drained"
    assert f"Case #{case.pk} opened." in _messages(first.content.decode())
    again = client.post(reverse(LIST), data, follow=True)  # the same form twice
    assert again.redirect_chain[-1][0] == reverse(DETAIL, args=[case.pk])
    assert Case.objects.count() == 1 and case.events.count() == 1
    assert StaffAction.objects.filter(action="case.open").count() == 1

    fresh = _token(client.get(reverse(LIST)).content.decode())
    joined = client.post(reverse(LIST), {"email": customer.email, "summary": "Second call", "form_token": fresh}, follow=True)
    assert f"already has open case #{case.pk}" in _messages(joined.content.decode())
    assert list(case.events.values_list("kind", flat=True)) == ["opened", "joined"]


# --- the case page ---------------------------------------------------------------------------


def test_case_page_shows_customer_transactions_totals_pipeline_history_freezes_and_compensation(client: Client) -> None:
    analyst = _staff(client)
    customer = make_customer("hanako@example.jp")
    topup, payment = _spend(customer, 10_000, 3_000)
    case = _case(customer, analyst, topup.transfer, payment.transfer)
    AccountFreeze.objects.create(user=customer, scope="debits", source=AccountFreeze.Source.STAFF, reason="Hold everything", set_by=analyst)
    Compensation.objects.create(
        case=case, fraud_transfer=payment.transfer, customer=customer, method="ledger", amount_yen=3_000, requested_by=analyst
    )

    body = client.get(reverse(DETAIL, args=[case.pk])).content.decode()
    for text in (
        "hanako@example.jp",
        reverse("admin:wallet_user_change", args=[customer.pk]),
        "¥7,000",  # balance
        "Cash at a store register",
        payment.merchant.name,
        "¥13,000",
        "Top-ups ¥10,000, store payments ¥3,000",
        str(payment.transfer.public_id),
        "Suspected takeover",
        "Hold everything",
        reverse("admin:wallet_user_freezes", args=[customer.pk]),
        "Credit to the wallet",
        "Waiting for approval",
    ):
        assert text in body, text
    buttons = set(re.findall(r'name="status" value="([a-z_]+)"', body))
    assert buttons == set(Case.TRANSITIONS["open"]) == {"investigating", "confirmed", "not_fraud"}


def test_pipeline_moves_are_recorded_and_illegal_or_stale_moves_refused(client: Client) -> None:
    analyst = _staff(client)
    case = _case(make_customer(), analyst)
    url = reverse("admin:incident_case_status", args=[case.pk])

    refused = client.post(url, {"status": "compensated", "current": "open"}, follow=True)
    assert "A case that is “Open” cannot become “Compensated”." in _messages(refused.content.decode())
    moved = client.post(url, {"status": "investigating", "current": "open", "note": "Looking at devices"}, follow=True)
    assert "The case is now “Investigating”." in _messages(moved.content.decode())
    stale = client.post(url, {"status": "investigating", "current": "open"}, follow=True)  # the same click again
    assert "This case is already “Investigating”. Nothing was changed." in _messages(stale.content.decode())
    case.refresh_from_db()
    assert case.status == "investigating"
    event = case.events.get(kind="status")
    assert (event.from_status, event.to_status, event.note, event.actor) == ("open", "investigating", "Looking at devices", analyst)
    assert StaffAction.objects.filter(action="case.status").count() == 1

    with pytest.raises(CaseRefused) as illegal:
        case_status_set(case=case, status="closed", acting_user=analyst)
    assert illegal.value.code == "not_allowed"
    for status in ("confirmed", "compensating", "compensated", "closed"):
        case_status_set(case=case, status=status, acting_user=analyst)
    case.refresh_from_db()
    assert case.status == "closed" and not case.is_open
    body = client.get(reverse(DETAIL, args=[case.pk])).content.decode()
    assert set(re.findall(r'name="status" value="([a-z_]+)"', body)) == {"investigating"}
    assert "Status changed: Compensated → Closed" in body


def test_closing_a_case_closes_the_reports_it_was_working(client: Client) -> None:
    analyst = _staff(client)
    customer = make_customer()
    _topup, payment = _spend(customer)
    report = transaction_report_create(user=customer, transfer=payment.transfer, note="not me", lock_wallet=False)
    TransactionReport.objects.filter(pk=report.pk).update(status=TransactionReport.Status.IN_REVIEW)
    case = _case(customer, analyst, payment.transfer)
    case_status_set(case=case, status="not_fraud", acting_user=analyst, note="Customer's son paid")
    report.refresh_from_db()
    assert report.status == TransactionReport.Status.CLOSED


def test_reopening_is_refused_while_another_case_is_open(client: Client) -> None:
    analyst = _staff(client)
    customer = make_customer()
    first = _case(customer, analyst)
    case_status_set(case=first, status="not_fraud", acting_user=analyst)
    second = _case(customer, analyst)
    assert second.pk != first.pk
    with pytest.raises(CaseRefused) as refused:
        case_status_set(case=first, status="investigating", acting_user=analyst)
    assert refused.value.code == "other_open"


def test_notes_are_saved_once(client: Client) -> None:
    analyst = _staff(client)
    case = _case(make_customer(), analyst)
    token = _token(client.get(reverse(DETAIL, args=[case.pk])).content.decode())
    url = reverse("admin:incident_case_note", args=[case.pk])

    empty = client.post(url, {"note": "  ", "form_token": token})
    assert empty.status_code == 400
    saved = client.post(url, {"note": "Customer confirmed by phone", "form_token": token}, follow=True)
    assert "Note added." in _messages(saved.content.decode())
    twice = client.post(url, {"note": "Customer confirmed by phone", "form_token": token}, follow=True)
    assert "This note was already saved." in _messages(twice.content.decode())
    assert list(case.events.filter(kind="note").values_list("note", "actor")) == [("Customer confirmed by phone", analyst.pk)]
    assert "Customer confirmed by phone" in twice.content.decode()


def test_add_a_transaction_by_id_or_public_id(client: Client) -> None:
    analyst = _staff(client)
    customer = make_customer()
    stranger = make_customer("stranger@example.jp")
    topup, payment = _spend(customer)
    other_topup, _other_payment = _spend(stranger)
    stranger_transfer = other_topup.transfer
    assert stranger_transfer is not None
    case = _case(customer, analyst)
    url = reverse("admin:incident_case_transaction", args=[case.pk])

    by_pk = client.post(url, {"reference": str(payment.transfer_id)}, follow=True)
    assert "Added: Store payment ¥3,000" in _messages(by_pk.content.decode())
    by_topup_id = client.post(url, {"reference": str(topup.public_id)}, follow=True)
    assert "Added: Top-up ¥10,000" in _messages(by_topup_id.content.decode())
    twice = client.post(url, {"reference": str(payment.transfer.public_id)}, follow=True)
    assert "That transaction is already in this case." in _messages(twice.content.decode())
    foreign = client.post(url, {"reference": str(other_topup.transfer_id)})
    assert foreign.status_code == 400 and "No transaction of this customer has that id." in foreign.content.decode()
    assert client.post(url, {"reference": "not-an-id"}).status_code == 400
    assert sorted(CaseTransaction.objects.filter(case=case).values_list("kind", flat=True)) == ["payment", "topup"]
    assert StaffAction.objects.filter(action="case.transaction_add").count() == 2

    with pytest.raises(CaseRefused):
        case_open_or_join(customer=customer, source="manual", acting_user=analyst, transfers=[stranger_transfer])
    assert CaseTransaction.objects.filter(case=case).count() == 2


def test_freeze_from_the_case_once(client: Client) -> None:
    analyst = _staff(client)
    customer = make_customer()
    case = _case(customer, analyst)
    url = reverse("admin:incident_case_freeze", args=[case.pk])

    assert client.post(url, {"scope": "all", "reason": ""}).status_code == 400
    frozen = client.post(url, {"scope": "all", "reason": "Takeover confirmed"}, follow=True)
    assert "Frozen. The customer&#x27;s sessions and API tokens have ended." in _messages(frozen.content.decode())
    customer.refresh_from_db()
    assert customer.status == User.Status.FROZEN
    freeze = AccountFreeze.objects.get(user=customer)
    assert case.events.get(kind="freeze").detail == {"freeze": freeze.pk, "scope": "all"}
    again = client.post(url, {"scope": "debits", "reason": "Takeover confirmed"}, follow=True)
    assert "This account is already frozen" in _messages(again.content.decode())
    assert AccountFreeze.objects.filter(user=customer).count() == 1
    assert StaffAction.objects.filter(action="account.freeze").count() == 1


# --- who may do what -------------------------------------------------------------------------


def test_support_reads_cases_but_cannot_change_them(client: Client) -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst")
    _staff(client, "support", "support@anzenpay.example")
    case = _case(make_customer(), analyst)
    body = client.get(reverse(DETAIL, args=[case.pk])).content.decode()
    assert "Suspected takeover" in body
    assert reverse("admin:incident_case_status", args=[case.pk]) not in body
    assert 'name="form_token"' not in client.get(reverse(LIST)).content.decode()
    for name, data in [
        ("admin:incident_case_status", {"status": "investigating", "current": "open"}),
        ("admin:incident_case_note", {"note": "x", "form_token": "t"}),
        ("admin:incident_case_transaction", {"reference": "1"}),
        ("admin:incident_case_freeze", {"scope": "all", "reason": "x"}),
    ]:
        assert client.post(reverse(name, args=[case.pk]), data).status_code == 403, name
    assert client.post(reverse(LIST), {"email": "hanako@example.jp", "summary": "x", "form_token": "t"}).status_code == 403
    case.refresh_from_db()
    assert case.status == "open" and case.events.count() == 1


def test_finance_reads_cases_and_compensation_but_nothing_else(client: Client) -> None:
    analyst = make_staff("fraud@anzenpay.example", "fraud_analyst")
    _staff(client, "finance", "finance@anzenpay.example")
    case = _case(make_customer(), analyst)
    body = client.get(reverse(DETAIL, args=[case.pk])).content.decode()
    assert "No compensation for this case yet." in body
    assert "Freezes of this customer" not in body  # finance does not see freezes
    assert client.post(reverse("admin:incident_case_note", args=[case.pk]), {"note": "x", "form_token": "t"}).status_code == 403


def test_staff_without_case_permission_is_refused(client: Client) -> None:
    staff = make_staff("nobody@anzenpay.example")
    otp_login(client, staff)
    case = _case(make_customer(), make_staff("fraud@anzenpay.example", "fraud_analyst"))
    assert client.get(reverse(LIST)).status_code == 403
    assert client.get(reverse(DETAIL, args=[case.pk])).status_code == 403
    assert client.get(reverse("admin:incident_case_export")).status_code == 403


def test_unknown_case_is_404(client: Client) -> None:
    _staff(client)
    assert client.get(reverse(DETAIL, args=[999_999])).status_code == 404


def test_case_admin_leads_to_the_case_pages(client: Client) -> None:
    analyst = _staff(client)
    case = _case(make_customer(), analyst)
    assert client.get(reverse("admin:backoffice_case_changelist"))["Location"] == reverse(LIST)
    assert client.get(reverse("admin:backoffice_case_change", args=[case.pk]))["Location"] == reverse(DETAIL, args=[case.pk])
    events = client.get(reverse("admin:backoffice_caseevent_changelist")).content.decode()
    assert reverse(DETAIL, args=[case.pk]) in events


# --- one case per customer, even when two routes open it at once -----------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_openings_for_one_customer_end_in_one_case() -> None:
    customer = make_customer()
    analysts = [make_staff(f"fraud{i}@anzenpay.example", totp=False) for i in range(2)]
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def open_case(analyst: User) -> None:
        try:
            barrier.wait(timeout=10)
            case, opened = case_open_or_join(customer=customer, source=Case.Source.REVIEW, acting_user=analyst, summary=analyst.email)
            results.append((case.pk, opened))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_case, args=(analyst,)) for analyst in analysts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(results) == 2 and results[0][0] == results[1][0]
    assert sorted(opened for _pk, opened in results) == [False, True]
    assert Case.objects.filter(customer=customer).count() == 1
    assert sorted(CaseEvent.objects.values_list("kind", flat=True)) == ["joined", "opened"]
