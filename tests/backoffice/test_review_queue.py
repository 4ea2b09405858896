"""The review queue: one list of held top-ups, payments declined for review,
customers' reports and hunt hits; an analyst approves, rejects and refunds,
marks as fraud or freezes, each once, audited; who may see and act."""

from __future__ import annotations

import csv
import io
import secrets
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Case, CaseTransaction, Hunt, HuntHit, StaffAction
from backoffice.selectors.review import ReviewFilters, review_queue, review_queue_counts, review_rows
from backoffice.services.review import ReviewRefused, review_approve
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from tests.money import fund_wallet, make_card, make_terminal, payment_code_for
from wallet.models import (
    AccountFreeze,
    ApiToken,
    Entry,
    GatewayCharge,
    KnownDevice,
    Notification,
    RiskDecision,
    RiskOutcome,
    TopUp,
    TransactionReport,
    User,
)
from wallet.selectors import wallet_balance
from wallet.services.holds import transaction_report_create
from wallet.services.ledger import system_account
from wallet.services.ledger_audit import ledger_verify
from wallet.services.notifications import notification_render
from wallet.services.payments import payment_redeem
from wallet.services.topups import topup_card, topup_reject

pytestmark = pytest.mark.django_db

QUEUE = "admin:incident_review"
ACT = "admin:incident_review_act"


class Holding:
    """Whether top-ups are scored "review" right now (a customer's own funding is not)."""

    on = True


@pytest.fixture
def hold_for_review(monkeypatch: pytest.MonkeyPatch) -> Holding:
    """Top-ups are scored "review" with a recognisable reason, as the 7pay rule would."""
    import wallet.services.topups as topups

    real_assess = topups.risk_assess
    holding = Holding()

    def assess(**kwargs: Any) -> RiskDecision:
        if not holding.on:
            return real_assess(**kwargs)
        return RiskDecision.objects.create(
            event="topup",
            outcome=RiskOutcome.REVIEW,
            user=kwargs["user"],
            amount_yen=kwargs["amount_yen"],
            channel=kwargs["channel"],
            ip_address="203.0.113.7",
            reasons=[{"rule": "new_device_money", "version": 1, "action": "review", "detail": "Money moved 10 minutes after a new device"}],
        )

    monkeypatch.setattr(topups, "risk_assess", assess)
    return holding


def _analyst(client: Client, role: str = "fraud_analyst", email: str = "fraud@anzenpay.example") -> User:
    staff = make_staff(email, role)
    otp_login(client, staff)
    return staff


def _held_card_topup(customer: User, amount_yen: int = 5_000) -> TopUp:
    card = make_card(customer)
    topup = topup_card(user=customer, card=card, amount_yen=amount_yen, idempotency_key=secrets.token_hex(6))
    assert topup.status == TopUp.Status.HELD
    return topup


def _payment_review(customer: User, amount_yen: int = 30_000, **extra: Any) -> RiskDecision:
    return RiskDecision.objects.create(
        event="payment",
        outcome=RiskOutcome.REVIEW,
        user=customer,
        amount_yen=amount_yen,
        channel="payment.store",
        reasons=[{"rule": "7pay", "detail": "Store spending right after top-ups"}],
        **extra,
    )


def _report(customer: User, note: str = "I was asleep", holding: Holding | None = None) -> TransactionReport:
    register, _key = make_terminal()
    if holding is not None:
        holding.on = False
    fund_wallet(customer, 10_000, register)
    if holding is not None:
        holding.on = True
    code = payment_code_for(user=customer).code
    payment = payment_redeem(terminal=register, code=code, amount_yen=4_000, idempotency_key=secrets.token_hex(6))
    return transaction_report_create(user=customer, transfer=payment.transfer, note=note, lock_wallet=False)


def _hunt_hit(customer: User, staff: User) -> HuntHit:
    now = timezone.now()
    hunt = Hunt.objects.create(
        rule_kind="topup_then_store_spend", period_start=now - timedelta(days=7), period_end=now, created_by=staff, state=Hunt.State.DONE
    )
    transfers = list(Entry.objects.filter(account__owner=customer).values_list("transfer_id", flat=True))
    return HuntHit.objects.create(
        hunt=hunt,
        customer=customer,
        transactions_count=len(transfers),
        amount_yen=12_000,
        first_at=now - timedelta(hours=3),
        last_at=now - timedelta(hours=1),
        transfer_ids=transfers,
    )


def _act(client: Client, kind: str, item: int, action: str, reason: str = "", back: str = "") -> str:
    response = client.post(reverse(ACT), {"kind": kind, "item": item, "action": action, "reason": reason, "back": back}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


# --- the list --------------------------------------------------------------------------------


def test_queue_mixes_every_kind_with_reasons_customer_device_address_amount(client: Client, hold_for_review: Holding) -> None:
    analyst = _analyst(client)
    taro = make_customer("taro@example.jp")
    hanako = make_customer("hanako@example.jp")
    KnownDevice.objects.create(user=hanako, device_digest="d" * 64, label="Chrome on Android", last_ip="198.51.100.23")
    held = _held_card_topup(taro, 7_000)
    _payment_review(hanako, 30_000)
    _report(hanako, note="Not me at all", holding=hold_for_review)
    _hunt_hit(hanako, analyst)

    assert review_queue_counts() == {"decisions": 2, "reports": 1, "hunt_hits": 1, "total": 4}
    body = client.get(reverse(QUEUE)).content.decode()
    for text in (
        "Held top-up",
        "Store payment declined for review",
        "Customer report",
        "Hunt hit",
        "Money moved 10 minutes after a new device",
        "Store spending right after top-ups",
        "Not me at all",
        "203.0.113.7",
        "198.51.100.23",
        "Chrome on Android (last seen)",
        "¥7,000",
        "¥30,000",
        "¥4,000",
        "¥12,000",
        reverse("admin:wallet_user_change", args=[taro.pk]),
        "Approve and release",
        "Reject and refund",
        "Mark as fraud",
        "Freeze account",
    ):
        assert text in body, text
    rows = review_rows(list(review_queue(ReviewFilters())))
    # Oldest first: the hunt's transactions were an hour ago.
    assert [r.kind for r in rows] == ["hunt_hit", "topup_held", "payment", "report"]
    assert rows[1].held_topup == held and rows[1].can_release and not rows[2].can_release


def test_filters_search_order_and_pages(client: Client, hold_for_review: Holding) -> None:
    _analyst(client)
    taro = make_customer("taro@example.jp")
    hanako = make_customer("hanako@example.jp")
    _held_card_topup(taro, 3_000)
    old = _payment_review(hanako, 40_000)
    RiskDecision.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    _report(hanako, holding=hold_for_review)

    def kinds(**filters: Any) -> list[str]:
        return [v["q_kind"] for v in review_queue(ReviewFilters(**filters))]

    assert kinds(kind="report") == ["report"]
    assert kinds(channel="charge.credit_card") == ["topup_held"]
    assert kinds(channel="payment.store") == ["payment", "report"]
    assert kinds(amount_min=10_000) == ["payment"]
    assert kinds(amount_max=4_000) == ["topup_held", "report"]
    assert kinds(date_from=timezone.localdate() - timedelta(days=1)) == ["topup_held", "report"]
    assert kinds(date_to=timezone.localdate() - timedelta(days=2)) == ["payment"]
    assert kinds(q="TARO@") == ["topup_held"]
    assert kinds() == ["payment", "topup_held", "report"]
    assert kinds(newest_first=True) == ["report", "topup_held", "payment"]

    page = client.get(reverse(QUEUE), {"q": "hanako", "order": "newest"}).content.decode()
    assert "hanako@example.jp" in page and "taro@example.jp" not in page
    bad = client.get(reverse(QUEUE), {"amount_min": "5000", "amount_max": "10"})
    assert bad.status_code == 400 and "The upper amount must not be below the lower one." in bad.content.decode()

    for _ in range(55):
        _payment_review(taro, 1_000)
    first = client.get(reverse(QUEUE), {"kind": "payment"}).content.decode()
    assert first.count('name="item"') == 50 and "Page 1 of 2" in first
    second = client.get(reverse(QUEUE), {"kind": "payment", "page": "2"}).content.decode()
    assert second.count('name="item"') == 6


# --- approve ---------------------------------------------------------------------------------


def test_approve_releases_a_held_top_up_once(client: Client, hold_for_review: Holding) -> None:
    analyst = _analyst(client)
    customer = make_customer()
    held = _held_card_topup(customer, 5_000)
    decision = held.risk_decision
    assert decision is not None and wallet_balance(customer) == 0

    body = _act(client, "decision", decision.pk, "approve", back="kind=topup_held")
    assert "Approved: ¥5,000 was added to the customer&#x27;s wallet." in body
    held.refresh_from_db()
    decision.refresh_from_db()
    assert held.status == TopUp.Status.SUCCEEDED and decision.reviewed_at is not None
    assert wallet_balance(customer) == 5_000
    assert Notification.objects.filter(user=customer, kind="topup_receipt").exists()
    action = StaffAction.objects.get(action="review.approve")
    assert action.actor == analyst and action.after["released_topup"] == held.pk

    again = _act(client, "decision", decision.pk, "approve")
    assert "Already worked by fraud@anzenpay.example at" in again and "Nothing was changed." in again
    assert wallet_balance(customer) == 5_000
    assert StaffAction.objects.filter(action="review.approve").count() == 1
    assert ledger_verify().ok


def test_approve_other_items_marks_them_worked(client: Client) -> None:
    analyst = _analyst(client)
    customer = make_customer()
    decision = _payment_review(customer)
    report = _report(customer)
    hit = _hunt_hit(customer, analyst)

    assert "Approved and marked reviewed." in _act(client, "decision", decision.pk, "approve", reason="Known customer")
    assert "The report was closed as not fraud." in _act(client, "report", report.pk, "approve")
    assert "The hunt hit was dismissed as not fraud." in _act(client, "hit", hit.pk, "approve")
    decision.refresh_from_db()
    report.refresh_from_db()
    hit.refresh_from_db()
    assert decision.reviewed_at is not None and report.status == TransactionReport.Status.CLOSED
    assert hit.reviewed_at is not None and hit.case is None
    assert review_queue_counts()["total"] == 0
    assert "Nothing is waiting for review." in client.get(reverse(QUEUE)).content.decode()
    assert StaffAction.objects.get(action="review.approve", target_type="wallet.riskdecision").reason == "Known customer"
    assert StaffAction.objects.filter(action="review.approve").count() == 3
    assert not Case.objects.exists()


# --- reject and refund -----------------------------------------------------------------------


def test_reject_refunds_a_card_top_up_to_the_card_once(client: Client, hold_for_review: Holding) -> None:
    analyst = _analyst(client)
    customer = make_customer()
    held = _held_card_topup(customer, 8_000)
    decision = held.risk_decision
    assert decision is not None

    assert "A reason is required." in _act(client, "decision", decision.pk, "reject", reason="  ")
    held.refresh_from_db()
    assert held.status == TopUp.Status.HELD

    body = _act(client, "decision", decision.pk, "reject", reason="Card reported stolen")
    assert "Rejected: ¥8,000 was refunded to the customer&#x27;s card." in body
    held.refresh_from_db()
    decision.refresh_from_db()
    assert held.status == TopUp.Status.REJECTED and decision.reviewed_at is not None
    assert wallet_balance(customer) == 0
    refunds = GatewayCharge.objects.filter(status="refund", token=held.gateway_charge_id)
    assert refunds.count() == 1 and refunds.get().amount_yen == 8_000
    assert GatewayCharge.objects.get(charge_id=held.gateway_charge_id).refunded_yen == 8_000

    def balance(code: str) -> int:
        return sum(Entry.objects.filter(account=system_account(code)).values_list("amount_yen", flat=True))

    assert balance("held_topups") == 0 and balance("card_clearing") == 0
    assert held.transfer is not None and held.transfer.reversed_by.description.startswith("Rejected top-up returned to the card")
    mail = Notification.objects.get(user=customer, kind="topup_rejected")
    assert mail.context["destination"] == "card" and mail.context["amount"] == "8,000"
    subject, text = notification_render(mail)
    assert "¥8,000" in subject and "refunded to the card it came from" in text
    action = StaffAction.objects.get(action="review.reject")
    assert action.actor == analyst and action.reason == "Card reported stolen" and action.after["outcome"] == "refunded_to_card"

    again = _act(client, "decision", decision.pk, "reject", reason="Card reported stolen")
    assert "Already worked by fraud@anzenpay.example" in again
    assert topup_reject(topup=held, acting_user=analyst, reason="again").status == TopUp.Status.REJECTED
    assert GatewayCharge.objects.filter(status="refund").count() == 1
    assert Notification.objects.filter(kind="topup_rejected").count() == 1
    assert ledger_verify().ok


def test_rejected_cash_top_up_is_owed_to_the_customer(client: Client, hold_for_review: Holding) -> None:
    _analyst(client)
    customer = make_customer()
    held = fund_wallet(customer, 20_000)
    assert held.status == TopUp.Status.HELD and held.risk_decision is not None

    body = _act(client, "decision", held.risk_decision.pk, "reject", reason="Cash from a mule")
    assert "Rejected: the ¥20,000 cash is kept in refund payable for the customer to claim." in body
    held.refresh_from_db()
    assert held.status == TopUp.Status.REJECTED and held.failure_code == "owed_to_customer"
    owed = Entry.objects.filter(account=system_account("refund_payable")).values_list("amount_yen", flat=True)
    assert list(owed) == [20_000]
    assert sum(Entry.objects.filter(account=system_account("held_topups")).values_list("amount_yen", flat=True)) == 0
    assert wallet_balance(customer) == 0
    mail = Notification.objects.get(user=customer, kind="topup_rejected")
    assert mail.context["destination"] == "claim" and "the full amount is kept for you" in notification_render(mail)[1]
    assert ledger_verify().ok


def test_gateway_timeout_on_reject_changes_nothing_and_a_retry_refunds_once(
    client: Client, hold_for_review: Holding, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet.adapters.cards import DevCardGateway, GatewayTimeout

    _analyst(client)
    customer = make_customer()
    held = _held_card_topup(customer, 6_000)
    assert held.risk_decision is not None
    real_refund = DevCardGateway.refund

    def refund_then_lose_the_answer(self: DevCardGateway, **kwargs: Any) -> Any:
        real_refund(self, **kwargs)
        raise GatewayTimeout("no answer")

    monkeypatch.setattr(DevCardGateway, "refund", refund_then_lose_the_answer)
    body = _act(client, "decision", held.risk_decision.pk, "reject", reason="Stolen card")
    assert "The card gateway did not answer." in body
    held.refresh_from_db()
    assert held.status == TopUp.Status.HELD and not StaffAction.objects.filter(action="review.reject").exists()

    monkeypatch.setattr(DevCardGateway, "refund", real_refund)
    assert "was refunded to the customer&#x27;s card" in _act(client, "decision", held.risk_decision.pk, "reject", reason="Stolen card")
    assert GatewayCharge.objects.filter(status="refund").count() == 1
    assert ledger_verify().ok


def test_only_held_top_ups_can_be_rejected(client: Client) -> None:
    _analyst(client)
    customer = make_customer()
    decision = _payment_review(customer)
    report = _report(customer)
    assert "Only a held top-up can be rejected and refunded." in _act(client, "decision", decision.pk, "reject", reason="x")
    assert "Only a held top-up can be rejected and refunded." in _act(client, "report", report.pk, "reject", reason="x")
    decision.refresh_from_db()
    assert decision.reviewed_at is None and not StaffAction.objects.exists()


# --- mark as fraud ---------------------------------------------------------------------------


def test_mark_report_as_fraud_opens_a_case_with_the_transaction(client: Client) -> None:
    analyst = _analyst(client)
    customer = make_customer()
    report = _report(customer)

    assert "A reason is required." in _act(client, "report", report.pk, "fraud")
    body = _act(client, "report", report.pk, "fraud", reason="Account takeover")
    case = Case.objects.get(customer=customer)
    assert f"Marked as fraud: case #{case.pk} opened." in body
    assert case.source == Case.Source.REPORT and case.opened_by == analyst and case.summary == "Account takeover"
    assert list(CaseTransaction.objects.filter(case=case).values_list("transfer_id", "kind", "amount_yen")) == [
        (report.transfer_id, "payment", 4_000)
    ]
    report.refresh_from_db()
    assert report.status == TransactionReport.Status.IN_REVIEW and review_queue_counts()["reports"] == 0
    assert StaffAction.objects.get(action="review.fraud").after["case"] == case.pk

    again = _act(client, "report", report.pk, "fraud", reason="Account takeover")
    assert "Already worked by fraud@anzenpay.example" in again
    assert Case.objects.count() == 1 and StaffAction.objects.filter(action="review.fraud").count() == 1


def test_fraud_on_a_held_top_up_refunds_it_and_hunt_hits_join_the_same_case(client: Client, hold_for_review: Holding) -> None:
    analyst = _analyst(client)
    customer = make_customer()
    held = _held_card_topup(customer, 9_000)
    assert held.risk_decision is not None
    body = _act(client, "decision", held.risk_decision.pk, "fraud", reason="7pay pattern")
    case = Case.objects.get(customer=customer)
    assert f"case #{case.pk} opened" in body and "¥9,000 was refunded to the customer&#x27;s card" in body
    held.refresh_from_db()
    assert held.status == TopUp.Status.REJECTED and wallet_balance(customer) == 0
    assert CaseTransaction.objects.get(case=case).topup == held

    hit = _hunt_hit(customer, analyst)
    body = _act(client, "hit", hit.pk, "fraud", reason="Found by the hunt")
    assert f"Marked as fraud: added to open case #{case.pk}." in body
    hit.refresh_from_db()
    assert hit.case == case and hit.reviewed_at is not None
    assert Case.objects.count() == 1
    assert case.events.filter(kind="joined").exists()


def test_review_decision_without_customer_cannot_be_marked(client: Client) -> None:
    _analyst(client)
    decision = RiskDecision.objects.create(event="login", outcome=RiskOutcome.REVIEW, user=None, reasons=[{"rule": "ip"}])
    assert "This item has no customer to open a case for." in _act(client, "decision", decision.pk, "fraud", reason="x")
    assert "Approved and marked reviewed." in _act(client, "decision", decision.pk, "approve")


# --- freeze ----------------------------------------------------------------------------------


def test_freeze_ends_sessions_and_a_second_click_freezes_nothing(client: Client) -> None:
    analyst = _analyst(client)
    customer = make_customer()
    ApiToken.objects.create(user=customer, key_digest="a" * 64, key_prefix="abcd")
    decision = _payment_review(customer)

    assert "A reason is required." in _act(client, "decision", decision.pk, "freeze", reason="")
    body = _act(client, "decision", decision.pk, "freeze", reason="Draining in progress")
    assert "Frozen. The customer&#x27;s sessions and API tokens have ended." in body
    freeze = AccountFreeze.objects.get(user=customer)
    customer.refresh_from_db()
    assert freeze.scope == AccountFreeze.Scope.ALL and freeze.set_by == analyst and freeze.reason == "Draining in progress"
    assert customer.status == User.Status.FROZEN and not ApiToken.objects.filter(user=customer).exists()
    assert StaffAction.objects.get(action="account.freeze").reason == "Draining in progress"

    again = _act(client, "decision", decision.pk, "freeze", reason="Draining in progress")
    assert "Already frozen by fraud@anzenpay.example at" in again
    assert AccountFreeze.objects.filter(user=customer).count() == 1
    decision.refresh_from_db()
    assert decision.reviewed_at is None  # still waits for a decision


# --- who may do what -------------------------------------------------------------------------


def test_support_sees_the_queue_but_cannot_act(client: Client) -> None:
    _analyst(client, "support", "support@anzenpay.example")
    customer = make_customer()
    decision = _payment_review(customer)
    body = client.get(reverse(QUEUE)).content.decode()
    assert customer.email in body and "You can look at the queue but not act on it." in body
    assert reverse(ACT) not in body
    response = client.post(reverse(ACT), {"kind": "decision", "item": decision.pk, "action": "approve"})
    assert response.status_code == 403
    decision.refresh_from_db()
    assert decision.reviewed_at is None


@pytest.mark.parametrize("role", ["fraud_analyst", "supervisor"])
def test_analysts_and_supervisors_act(client: Client, role: str) -> None:
    _analyst(client, role, f"{role}@anzenpay.example")
    decision = _payment_review(make_customer())
    assert "Approved and marked reviewed." in _act(client, "decision", decision.pk, "approve")


def test_finance_cannot_see_the_queue(client: Client) -> None:
    _analyst(client, "finance", "finance@anzenpay.example")
    _payment_review(make_customer())
    assert client.get(reverse(QUEUE)).status_code == 403
    assert client.get(reverse("admin:incident_review_export")).status_code == 403
    assert client.post(reverse(ACT), {"kind": "decision", "item": 1, "action": "approve"}).status_code == 403


def test_queue_needs_an_otp_verified_staff_login(client: Client) -> None:
    staff = make_staff("fraud@anzenpay.example", "fraud_analyst")
    client.force_login(staff)  # password only, no second factor
    response = client.get(reverse(QUEUE))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_bad_action_posts_change_nothing(client: Client) -> None:
    _analyst(client)
    decision = _payment_review(make_customer())
    assert "That action was not understood." in _act(client, "decision", decision.pk, "delete")
    assert "There is no such item in the review queue." in _act(client, "report", 999_999, "approve")
    assert client.get(reverse(ACT)).status_code == 405
    response = client.post(reverse(ACT), {"kind": "decision", "item": decision.pk, "action": "approve", "back": "q=x&evil=1"})
    assert response["Location"] == reverse(QUEUE) + "?q=x"


# --- CSV -------------------------------------------------------------------------------------


def test_csv_export_follows_the_filters_is_safe_and_audited(client: Client, hold_for_review: Holding) -> None:
    analyst = _analyst(client)
    taro = make_customer("taro@example.jp")
    hanako = make_customer("hanako@example.jp")
    _held_card_topup(taro, 4_000)
    KnownDevice.objects.create(user=hanako, device_digest="e" * 64, label="=cmd|' /C calc'!A0")
    _report(hanako, holding=hold_for_review)

    response = client.get(reverse("admin:incident_review_export"), {"kind": "report"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0][:6] == ["kind", "item", "time", "customer", "amount_yen", "channel"]
    assert len(rows) == 2 and rows[1][0] == "report" and rows[1][3] == "hanako@example.jp" and rows[1][4] == "4000"
    assert rows[1][11] == str(TransactionReport.objects.get().transfer.public_id)
    assert rows[1][7] == "'=cmd|' /C calc'!A0 (last seen)"  # a spreadsheet shows it, never runs it
    export = StaffAction.objects.get(action="review.export")
    assert export.actor == analyst and export.after == {"filters": "kind=report", "rows": 1}

    everything = client.get(reverse("admin:incident_review_export"))
    all_rows = list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))  # type: ignore[attr-defined]
    assert {row[3] for row in all_rows[1:]} == {"taro@example.jp", "hanako@example.jp"}


# --- two analysts on one row at the same moment ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_analysts_approving_one_held_top_up_at_once_release_it_once(hold_for_review: Holding) -> None:
    customer = make_customer()
    held = _held_card_topup(customer, 6_000)
    assert held.risk_decision is not None
    # Superusers: a flush between transactional tests may leave the role groups without permissions.
    analysts = [make_staff(f"lead{i}@anzenpay.example", superuser=True, totp=False) for i in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(analyst: User) -> None:
        try:
            barrier.wait(timeout=10)
            review_approve(kind="decision", item_id=held.risk_decision_id or 0, acting_user=analyst)
            outcomes.append("released")
        except ReviewRefused as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(analyst,)) for analyst in analysts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["already_worked", "released"]
    assert wallet_balance(customer) == 6_000
    assert StaffAction.objects.filter(action="review.approve").count() == 1
    assert ledger_verify().ok
