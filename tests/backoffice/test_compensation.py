"""Compensation: per case or from a hunt, with approval (B04); paid to the wallet from
the compensation expense account or refunded to the card through the gateway; never
for a charge the issuer reversed; the customer told; totals for the regulator."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Approval, Case, CaseTransaction, Compensation, Hunt, StaffAction
from backoffice.selectors.compensation import compensation_report, compensation_report_csv_rows
from backoffice.services.approvals import ApprovalRefused, approval_approve, approval_reject
from backoffice.services.cases import case_open_or_join
from backoffice.services.compensation import CompensationRefused, compensation_plan, compensation_request, compensations_release_stale
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from tests.money import fund_wallet, make_card, make_terminal, payment_code_for
from wallet.adapters.cards import DevCardGateway
from wallet.models import CardReversal, Entry, GatewayCharge, Payment, Terminal, TopUp, Transfer, User
from wallet.selectors import wallet_balance
from wallet.services.card_reversals import card_reversals_sync
from wallet.services.ledger_audit import ledger_verify
from wallet.services.payments import payment_redeem
from wallet.services.topups import topup_card

pytestmark = pytest.mark.django_db

OnCommit = Callable[..., Any]


@pytest.fixture
def fraud() -> User:
    return make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)


@pytest.fixture
def supervisor() -> User:
    return make_staff("supervisor@anzenpay.example", "supervisor", totp=False)


@pytest.fixture
def store() -> Terminal:
    return make_terminal()[0]


def spend(user: User, amount_yen: int, terminal: Terminal, description: str = "電子タバコ") -> Payment:
    code = payment_code_for(user=user).code
    return payment_redeem(
        terminal=terminal, code=code, amount_yen=amount_yen, idempotency_key=secrets.token_hex(8), description=description
    )


def card_topup(user: User, amount_yen: int) -> TopUp:
    topup = topup_card(user=user, card=make_card(user), amount_yen=amount_yen, idempotency_key=secrets.token_hex(8), step_up_fresh=True)
    assert topup.status == TopUp.Status.SUCCEEDED
    return topup


def open_case(customer: User, analyst: User, *transfers: Transfer | None, hunt: Hunt | None = None) -> Case:
    booked = [transfer for transfer in transfers if transfer is not None]
    assert len(booked) == len(transfers), "every transaction of the case has been booked"
    case, _opened = case_open_or_join(
        customer=customer, source="hunt" if hunt else "manual", acting_user=analyst, hunt=hunt, transfers=booked
    )
    return case


def victim_with_spent_balance(store: Terminal, email: str = "hanako@example.jp") -> tuple[User, Payment]:
    """The customer's own cash, spent by whoever took the account over."""
    customer = make_customer(email)
    fund_wallet(customer, 10_000)
    return customer, spend(customer, 7_000, store)


def approve_and_commit(approval: Approval, checker: User) -> None:
    """Approve, then what follows the approval's commit: card refunds go to the gateway only then."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        approval_approve(approval=approval, checker=checker)


def entries_of(transfer: Transfer) -> dict[str, int]:
    return {e.account.code if not e.account.is_wallet else "wallet": e.amount_yen for e in transfer.entries.select_related("account")}


# -- paying to the wallet -------------------------------------------------------------------------


def test_ledger_compensation_credits_the_wallet_exactly_once(fraud: User, supervisor: User, store: Terminal) -> None:
    customer, payment = victim_with_spent_balance(store)
    case = open_case(customer, fraud, payment.transfer)
    requested = compensation_request(case=case, reason="Account taken over on 07-03", acting_user=fraud)
    assert [(c.method, c.amount_yen, c.state) for c in requested.compensations] == [("ledger", 7_000, "requested")]
    assert wallet_balance(customer) == 3_000  # nothing moves before the approval
    case.refresh_from_db()
    assert case.status == Case.Status.COMPENSATING

    approval_approve(approval=requested.approval, checker=supervisor, note="Checked the device log")
    assert wallet_balance(customer) == 10_000
    row = Compensation.objects.get()
    assert row.state == Compensation.State.PAID and row.paid_at is not None
    assert row.paid_transfer is not None and row.paid_transfer.idempotency_key == f"compensation:{row.pk}"
    assert entries_of(row.paid_transfer) == {"compensation_expense": -7_000, "wallet": 7_000}
    case.refresh_from_db()
    assert case.status == Case.Status.COMPENSATED

    with pytest.raises(ApprovalRefused) as again:
        approval_approve(approval=requested.approval, checker=make_staff("super2@anzenpay.example", "supervisor", totp=False))
    assert again.value.code == "not_pending"
    with pytest.raises(CompensationRefused) as second_request:
        compensation_request(cases=[case], reason="again", acting_user=fraud)
    assert second_request.value.code in {"nothing_to_pay"}
    assert wallet_balance(customer) == 10_000
    assert Transfer.objects.filter(kind=Transfer.Kind.COMPENSATION).count() == 1
    assert ledger_verify().ok
    actions = set(StaffAction.objects.values_list("action", flat=True))
    assert {"compensation.request", "approval.request", "compensation.pay", "approval.approve", "case.status"} <= actions


def test_a_frozen_wallet_is_still_credited(fraud: User, supervisor: User, store: Terminal) -> None:
    from backoffice.services.freezes import account_freeze

    customer, payment = victim_with_spent_balance(store)
    account_freeze(user=customer, scope="all", reason="taken over", acting_user=fraud)
    case = open_case(customer, fraud, payment.transfer)
    requested = compensation_request(case=case, reason="taken over", acting_user=fraud)
    approval_approve(approval=requested.approval, checker=supervisor)
    assert wallet_balance(customer) == 10_000


# -- refunding to the card ------------------------------------------------------------------------


def test_card_refund_goes_to_the_gateway_and_is_recorded(fraud: User, supervisor: User, store: Terminal) -> None:
    customer = make_customer()
    topup = card_topup(customer, 10_000)
    payment = spend(customer, 6_000, store)
    case = open_case(customer, fraud, topup.transfer, payment.transfer)

    plan = compensation_plan(cases=[case])
    by_kind = {line.row.kind: line for line in plan.lines}
    assert (by_kind["topup"].method, by_kind["topup"].pay_yen, by_kind["topup"].wallet_return_yen) == ("card_refund", 10_000, 4_000)
    # The payment spent the fraudulent top-up, which goes back to the card: paying it too would pay twice.
    assert by_kind["payment"].skip == "funded_by_card"

    requested = compensation_request(case=case, reason="Card charged by an attacker", acting_user=fraud)
    assert len(requested.compensations) == 1 and [s.skip for s in requested.skipped] == ["funded_by_card"]
    assert not GatewayCharge.objects.filter(status="refund").exists()
    with TestCase.captureOnCommitCallbacks() as after_commit:
        approval_approve(approval=requested.approval, checker=supervisor)
    # The approval's transaction asks no gateway: the refund waits, approved, for the commit.
    assert not GatewayCharge.objects.filter(status="refund").exists()
    assert Compensation.objects.get().state == Compensation.State.REQUESTED
    assert Case.objects.get(pk=case.pk).status == Case.Status.COMPENSATING
    for callback in after_commit:
        callback()

    row = Compensation.objects.get()
    refund = GatewayCharge.objects.get(status="refund")
    assert (refund.token, refund.amount_yen) == (topup.gateway_charge_id, 10_000)
    assert refund.idempotency_key == f"compensation-refund:{topup.transfer_id}"
    assert GatewayCharge.objects.get(charge_id=topup.gateway_charge_id).refunded_yen == 10_000
    assert row.state == Compensation.State.PAID and row.gateway_refund_id == refund.charge_id
    assert row.paid_transfer is not None
    # Card clearing gets the charge back; the unspent ¥4,000 leaves the wallet with it; the rest is our cost.
    assert entries_of(row.paid_transfer) == {"card_clearing": 10_000, "wallet": -4_000, "compensation_expense": -6_000}
    assert wallet_balance(customer) == 0
    assert ledger_verify().ok


def test_wallet_method_credits_only_what_the_card_top_up_spent(fraud: User, supervisor: User, store: Terminal) -> None:
    customer = make_customer()
    topup = card_topup(customer, 10_000)
    spend(customer, 6_000, store)
    case = open_case(customer, fraud, topup.transfer)
    requested = compensation_request(case=case, method="ledger", reason="The card is closed", acting_user=fraud)
    assert [(c.method, c.amount_yen) for c in requested.compensations] == [("ledger", 6_000)]
    approval_approve(approval=requested.approval, checker=supervisor)
    assert wallet_balance(customer) == 10_000
    assert not GatewayCharge.objects.filter(status="refund").exists()


def test_spending_beyond_the_fraudulent_top_up_is_credited_to_the_wallet(fraud: User, supervisor: User, store: Terminal) -> None:
    customer = make_customer()
    fund_wallet(customer, 5_000)
    topup = card_topup(customer, 3_000)
    payment = spend(customer, 8_000, store)
    case = open_case(customer, fraud, topup.transfer, payment.transfer)
    requested = compensation_request(case=case, reason="Drained", acting_user=fraud)
    assert sorted((c.method, c.amount_yen) for c in requested.compensations) == [("card_refund", 3_000), ("ledger", 5_000)]
    approve_and_commit(requested.approval, supervisor)
    # Card back to where it was, own ¥5,000 back in the wallet: the customer is whole, not better off.
    assert wallet_balance(customer) == 5_000
    assert GatewayCharge.objects.get(status="refund").amount_yen == 3_000
    assert ledger_verify().ok


def test_top_ups_refunded_one_request_at_a_time_each_take_back_their_own_rest(fraud: User, supervisor: User) -> None:
    customer = make_customer()
    older, newer = card_topup(customer, 5_000), card_topup(customer, 5_000)
    case = open_case(customer, fraud, older.transfer, newer.transfer)
    rows = {row.topup_id: row.pk for row in CaseTransaction.objects.filter(case=case)}
    for topup in (newer, older):
        requested = compensation_request(case=case, transactions=[rows[topup.pk]], reason="one at a time", acting_user=fraud)
        approve_and_commit(requested.approval, supervisor)
    # Nothing was spent: both charges are back on the card and none of that money stays in the wallet.
    assert wallet_balance(customer) == 0
    assert GatewayCharge.objects.filter(status="refund").count() == 2
    assert ledger_verify().ok


def test_issuer_reversed_charge_is_skipped(fraud: User, store: Terminal) -> None:
    customer = make_customer()
    topup = card_topup(customer, 9_000)
    payment = spend(customer, 9_000, store)
    case = open_case(customer, fraud, topup.transfer, payment.transfer)
    DevCardGateway().simulate_reversal(topup.gateway_charge_id)
    assert not CardReversal.objects.exists()

    with pytest.raises(CompensationRefused) as refused:
        compensation_request(case=case, reason="chargeback case", acting_user=fraud)
    assert refused.value.code == "nothing_to_pay"
    # Synced before the request: recorded, and neither the charge nor the spending it paid is compensated.
    reversal = CardReversal.objects.get()
    assert (reversal.topup_id, reversal.amount_yen) == (topup.pk, 9_000)
    skips = {line.row.kind: line.skip for line in compensation_plan(cases=[case]).lines}
    assert skips == {"topup": "issuer_reversed", "payment": "funded_by_card"}
    assert not Compensation.objects.exists() and not Approval.objects.exists()


def test_card_reversal_sync_is_idempotent(fraud: User) -> None:
    customer = make_customer()
    topup = card_topup(customer, 4_000)
    DevCardGateway().simulate_reversal(topup.gateway_charge_id)
    assert card_reversals_sync() == 1
    assert card_reversals_sync() == 0
    assert CardReversal.objects.count() == 1


def test_a_gateway_refusal_marks_that_row_failed_and_moves_no_money(fraud: User, supervisor: User, store: Terminal) -> None:
    customer = make_customer()
    fund_wallet(customer, 2_000)
    topup = card_topup(customer, 5_000)
    payment = spend(customer, 7_000, store)
    case = open_case(customer, fraud, topup.transfer, payment.transfer)
    requested = compensation_request(case=case, reason="Drained", acting_user=fraud)
    # The issuer reverses the charge after the request: the gateway refuses to refund it.
    DevCardGateway().simulate_reversal(topup.gateway_charge_id)
    approve_and_commit(requested.approval, supervisor)

    card_row = Compensation.objects.get(method="card_refund")
    ledger_row = Compensation.objects.get(method="ledger")
    assert (card_row.state, card_row.failure, card_row.paid_transfer) == ("failed", "charge_reversed", None)
    assert not GatewayCharge.objects.filter(status="refund").exists()
    assert ledger_row.state == "paid" and wallet_balance(customer) == 2_000
    assert StaffAction.objects.filter(action="compensation.fail", target_id=str(card_row.pk)).exists()
    case.refresh_from_db()
    assert case.status == Case.Status.CONFIRMED  # back for someone to decide what to do with the failed one
    assert ledger_verify().ok


# -- four eyes --------------------------------------------------------------------------------------


def test_b04_maker_cannot_approve_own_compensation(supervisor: User, store: Terminal) -> None:
    customer, payment = victim_with_spent_balance(store)
    case = open_case(customer, supervisor, payment.transfer)
    requested = compensation_request(case=case, reason="taken over", acting_user=supervisor)
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=requested.approval, checker=supervisor)
    assert refused.value.code == "own_request"
    assert wallet_balance(customer) == 3_000
    assert Compensation.objects.get().state == Compensation.State.REQUESTED
    assert StaffAction.objects.get(action="approval.refused").after["refusal"] == "own_request"


def test_rejected_approval_lets_a_new_request_be_made(fraud: User, supervisor: User, store: Terminal) -> None:
    customer, payment = victim_with_spent_balance(store)
    case = open_case(customer, fraud, payment.transfer)
    first = compensation_request(case=case, reason="taken over", acting_user=fraud)
    approval_reject(approval=first.approval, checker=supervisor, note="Check the store's CCTV first")
    assert wallet_balance(customer) == 3_000

    second = compensation_request(case=case, reason="CCTV confirms it was not her", acting_user=fraud)
    first_row = Compensation.objects.get(pk=first.compensations[0].pk)
    assert (first_row.state, first_row.failure) == ("rejected", "approval_rejected")
    assert second.approval.pk != first.approval.pk and second.compensations[0].state == "requested"
    statuses = list(case.events.filter(kind="status").values_list("to_status", flat=True))
    assert statuses == ["confirmed", "compensating", "confirmed", "compensating"]
    approval_approve(approval=second.approval, checker=supervisor)
    assert wallet_balance(customer) == 10_000


def test_an_expired_approval_is_released_by_the_sweep(fraud: User, store: Terminal) -> None:
    customer, payment = victim_with_spent_balance(store)
    case = open_case(customer, fraud, payment.transfer)
    requested = compensation_request(case=case, reason="taken over", acting_user=fraud)
    Approval.objects.filter(pk=requested.approval.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert compensations_release_stale() == 1
    assert compensations_release_stale() == 0
    assert Compensation.objects.get().failure == "approval_expired"
    case.refresh_from_db()
    assert case.status == Case.Status.CONFIRMED


def test_requests_need_the_permission_and_a_reason(store: Terminal) -> None:
    finance = make_staff("finance@anzenpay.example", "finance", totp=False)
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst", totp=False)
    customer, payment = victim_with_spent_balance(store)
    case = open_case(customer, fraud, payment.transfer)
    with pytest.raises(CompensationRefused) as not_allowed:
        compensation_request(case=case, reason="x", acting_user=finance)
    assert not_allowed.value.code == "not_allowed"
    with pytest.raises(CompensationRefused) as no_reason:
        compensation_request(case=case, reason="  ", acting_user=fraud)
    assert no_reason.value.code == "no_reason"
    with pytest.raises(CompensationRefused) as foreign:
        compensation_request(case=case, transactions=[999_999], reason="x", acting_user=fraud)
    assert foreign.value.code == "unknown_transaction"
    assert not Compensation.objects.exists() and not Approval.objects.exists()
    case.refresh_from_db()
    assert case.status == Case.Status.OPEN


def test_a_closed_case_is_not_compensated(fraud: User, store: Terminal) -> None:
    from backoffice.services.cases import case_status_set

    customer, payment = victim_with_spent_balance(store)
    case = open_case(customer, fraud, payment.transfer)
    case_status_set(case=case, status="not_fraud", acting_user=fraud)
    with pytest.raises(CompensationRefused):
        compensation_request(case=case, reason="x", acting_user=fraud)
    assert compensation_plan(cases=[Case.objects.get(pk=case.pk)]).lines[0].skip == "case_status"


# -- bulk from a hunt --------------------------------------------------------------------------------


def test_bulk_request_from_a_hunt_covers_every_case_it_opened(fraud: User, supervisor: User, store: Terminal) -> None:
    now = timezone.now()
    hunt = Hunt.objects.create(rule_kind="topup_then_spend", period_start=now - timedelta(days=1), period_end=now, created_by=fraud)
    victims = [victim_with_spent_balance(store, f"victim{i}@example.jp") for i in range(3)]
    for customer, payment in victims:
        open_case(customer, fraud, payment.transfer, hunt=hunt)
    requested = compensation_request(hunt=hunt, reason="7pay pattern, confirmed by the hunt", acting_user=fraud)
    assert requested.approval.payload["hunt"] == hunt.pk
    assert len(requested.approval.payload["cases"]) == 3 and requested.total_yen == 21_000
    approval_approve(approval=requested.approval, checker=supervisor)
    assert [wallet_balance(customer) for customer, _p in victims] == [10_000, 10_000, 10_000]
    assert set(Case.objects.values_list("status", flat=True)) == {"compensated"}


# -- the customer is told -----------------------------------------------------------------------------


def test_the_customer_gets_a_mail(fraud: User, supervisor: User, store: Terminal, django_capture_on_commit_callbacks: OnCommit) -> None:
    customer = make_customer()
    fund_wallet(customer, 2_000)
    topup = card_topup(customer, 5_000)
    payment = spend(customer, 7_000, store)
    case = open_case(customer, fraud, topup.transfer, payment.transfer)
    requested = compensation_request(case=case, reason="Drained", acting_user=fraud)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approval_approve(approval=requested.approval, checker=supervisor)
    sent = [m for m in mail.outbox if "returned to you" in m.subject]
    assert len(sent) == 1 and sent[0].to == [customer.email]
    assert "¥7,000" in sent[0].subject and f"#{case.pk}" in sent[0].subject
    body = sent[0].body
    assert "¥5,000 refunded to your card visa •••• 4242" in body
    assert "¥2,000 credited to your AnzenPay wallet" in body


def test_no_mail_before_the_approval(fraud: User, store: Terminal, django_capture_on_commit_callbacks: OnCommit) -> None:
    customer, payment = victim_with_spent_balance(store)
    case = open_case(customer, fraud, payment.transfer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        compensation_request(case=case, reason="taken over", acting_user=fraud)
    assert not [m for m in mail.outbox if customer.email in m.to]


# -- the report ---------------------------------------------------------------------------------------


def test_report_totals(fraud: User, supervisor: User, store: Terminal) -> None:
    first, payment = victim_with_spent_balance(store, "a@example.jp")
    second = make_customer("b@example.jp")
    fund_wallet(second, 1_000)
    topup = card_topup(second, 4_000)
    spent = spend(second, 5_000, store)
    for customer, transfers in ((first, [payment.transfer]), (second, [topup.transfer, spent.transfer])):
        requested = compensation_request(case=open_case(customer, fraud, *transfers), reason="taken over", acting_user=fraud)
        approve_and_commit(requested.approval, supervisor)
    # A request still waiting is not in the report.
    waiting_customer, waiting_payment = victim_with_spent_balance(store, "c@example.jp")
    compensation_request(case=open_case(waiting_customer, fraud, waiting_payment.transfer), reason="x", acting_user=fraud)

    report = compensation_report()
    assert (report.total.customers, report.total.transactions, report.total.yen) == (2, 3, 12_000)
    assert (report.by_method["ledger"].transactions, report.by_method["ledger"].yen) == (2, 8_000)
    assert (report.by_method["card_refund"].customers, report.by_method["card_refund"].yen) == (1, 4_000)
    today = timezone.localdate()
    assert [(d.day, d.total.yen, d.total.customers) for d in report.days] == [(today, 12_000, 2)]
    rows = list(compensation_report_csv_rows(report))
    assert rows[-1] == ["total", "all", "2", "3", "12000"]
    assert compensation_report(date_from=today + timedelta(days=1)).total.yen == 0


# -- pages and roles ------------------------------------------------------------------------------------

PAGES = ["admin:incident_compensation_list", "admin:incident_compensation_new", "admin:incident_compensation_report"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("support", {"admin:incident_compensation_list"}),
        ("fraud_analyst", {"admin:incident_compensation_list", "admin:incident_compensation_new"}),
        ("finance", {"admin:incident_compensation_list", "admin:incident_compensation_report"}),
        ("supervisor", set(PAGES)),
    ],
)
def test_permissions_per_role(client: Client, store: Terminal, role: str, allowed: set[str]) -> None:
    analyst = make_staff("opener@anzenpay.example", "fraud_analyst", totp=False)
    customer, payment = victim_with_spent_balance(store)
    case = open_case(customer, analyst, payment.transfer)
    otp_login(client, make_staff(f"{role}@anzenpay.example", role))
    for name in PAGES:
        url = reverse(name) + (f"?case={case.pk}" if name.endswith("_new") else "")
        status = client.get(url).status_code
        assert status == (200 if name in allowed else 403), (role, name, status)
    export = client.get(reverse("admin:incident_compensation_report_export"))
    assert export.status_code == (200 if "admin:incident_compensation_report" in allowed else 403)


def test_request_page_shows_the_plan_and_creates_an_approval(client: Client, fraud: User, store: Terminal) -> None:
    customer = make_customer()
    fund_wallet(customer, 1_000)
    topup = card_topup(customer, 5_000)
    payment = spend(customer, 6_000, store)
    reversed_topup = card_topup(customer, 2_000)
    spend(customer, 2_000, store)
    case = open_case(customer, fraud, topup.transfer, payment.transfer, reversed_topup.transfer)
    DevCardGateway().simulate_reversal(reversed_topup.gateway_charge_id)
    card_reversals_sync()
    otp_login(client, make_staff("fraud2@anzenpay.example", "fraud_analyst"))
    url = reverse("admin:incident_compensation_new")

    page = client.get(url, {"case": case.pk}).content.decode()
    assert "Refund to the card" in page and "Credit to the wallet" in page
    assert "The card issuer already reversed this charge" in page
    assert "¥6,000" in page  # the total: ¥5,000 to the card, ¥1,000 of own money to the wallet

    refused = client.post(url, {"case": case.pk, "method": "auto", "reason": "", "transaction": []})
    assert refused.status_code == 400 and not Approval.objects.exists()

    payable = list(CaseTransaction.objects.filter(case=case).exclude(transfer=reversed_topup.transfer).values_list("pk", flat=True))
    response = client.post(url, {"case": case.pk, "method": "auto", "reason": "Drained on 07-03", "transaction": payable})
    approval = Approval.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:backoffice_approval_change", args=[approval.pk])
    assert approval.kind == Approval.Kind.COMPENSATION and approval.payload["total_yen"] == 6_000


def test_request_page_from_a_hunt_and_bad_input(client: Client, fraud: User, store: Terminal) -> None:
    now = timezone.now()
    hunt = Hunt.objects.create(rule_kind="topup_then_spend", period_start=now - timedelta(days=1), period_end=now, created_by=fraud)
    customer, payment = victim_with_spent_balance(store)
    open_case(customer, fraud, payment.transfer, hunt=hunt)
    otp_login(client, make_staff("fraud2@anzenpay.example", "fraud_analyst"))
    url = reverse("admin:incident_compensation_new")
    page = client.get(url, {"hunt": hunt.pk})
    assert page.status_code == 200 and customer.email in page.content.decode()
    assert client.get(url).status_code == 400
    assert client.get(url, {"case": 999_999}).status_code == 404
    response = client.post(url, {"hunt": hunt.pk, "method": "auto", "reason": "hunt #1"})
    assert response.status_code == 302 and Compensation.objects.count() == 1


def test_list_filters_search_and_csv(client: Client, fraud: User, supervisor: User, store: Terminal) -> None:
    customer, payment = victim_with_spent_balance(store, "paid@example.jp")
    requested = compensation_request(case=open_case(customer, fraud, payment.transfer), reason="x", acting_user=fraud)
    approval_approve(approval=requested.approval, checker=supervisor)
    other, other_payment = victim_with_spent_balance(store, "=waiting@example.jp")
    compensation_request(case=open_case(other, fraud, other_payment.transfer), reason="x", acting_user=fraud)
    otp_login(client, make_staff("finance@anzenpay.example", "finance"))
    url = reverse("admin:incident_compensation_list")

    assert "paid@example.jp" in client.get(url, {"state": "paid"}).content.decode()
    assert "paid@example.jp" not in client.get(url, {"state": "requested"}).content.decode()
    assert "=waiting@example.jp" in client.get(url, {"q": "waiting"}).content.decode()
    assert "paid@example.jp" in client.get(url, {"approval": requested.approval.pk}).content.decode()

    export = client.get(reverse("admin:incident_compensation_export"), {"method": "ledger"})
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0][:4] == ["id", "requested_at", "case", "customer"] and len(rows) == 3
    assert "'=waiting@example.jp" in [row[3] for row in rows]  # a spreadsheet will not run it as a formula
    assert StaffAction.objects.filter(action="compensation.export_list").exists()
    assert client.get(reverse("admin:incident_compensation_report")).status_code == 200


def test_report_page_and_csv(client: Client, fraud: User, supervisor: User, store: Terminal) -> None:
    customer, payment = victim_with_spent_balance(store)
    requested = compensation_request(case=open_case(customer, fraud, payment.transfer), reason="x", acting_user=fraud)
    approval_approve(approval=requested.approval, checker=supervisor)
    otp_login(client, make_staff("finance@anzenpay.example", "finance"))
    page = client.get(reverse("admin:incident_compensation_report")).content.decode()
    assert "¥7,000" in page and "<svg" in page
    bad = client.get(reverse("admin:incident_compensation_report"), {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert bad.status_code == 400
    export = client.get(reverse("admin:incident_compensation_report_export"))
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0] == ["day", "method", "customers", "transactions", "yen"] and rows[-1] == ["total", "all", "1", "1", "7000"]
    assert Entry.objects.filter(transfer__kind=Transfer.Kind.COMPENSATION).count() == 2
