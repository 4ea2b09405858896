"""Refund reports: every figure equals the total computed by hand from the rows made
here; the ledger's refund accounts are reconciled with the claims (and a stray
entry shows up as a difference); CSV of each table, audited; the unclaimed
balances after the deadline, paged by keyset; a constant number of queries."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.models import StaffAction
from refunds.models import Payout, PayoutBatch, RefundClaim, ShutdownProgramme
from refunds.selectors import reports
from refunds.services.claims import claim_review_reject, claim_state_set
from tests.backoffice.helpers import make_staff, otp_login
from tests.conftest import make_customer
from tests.refunds.factories import bank_claim, funded_customer, funded_staff, make_programme
from wallet.models import Transfer
from wallet.services.ledger import Leg, system_account, transfer_post, wallet_account_for

pytestmark = pytest.mark.django_db


def _release(claims: list[RefundClaim]) -> PayoutBatch:
    """What the payout release does to the ledger and the rows: the batch total leaves refund_payable for payout_clearing."""
    total = sum(c.amount_yen for c in claims)
    transfer = transfer_post(
        kind=Transfer.Kind.REFUND_PAYOUT,
        legs=[Leg(system_account("refund_payable"), -total), Leg(system_account("payout_clearing"), total)],
        idempotency_key=f"test-release:{secrets.token_hex(4)}",
    )
    batch = PayoutBatch.objects.create(
        method=PayoutBatch.Method.BANK,
        state=PayoutBatch.State.RELEASED,
        transfer_date=timezone.localdate(),
        payout_count=len(claims),
        total_yen=total,
        file_content=b"",
        file_sha256="0" * 64,
        transfer=transfer,
    )
    for claim in claims:
        Payout.objects.create(batch=batch, claim=claim, amount_yen=claim.amount_yen, state=Payout.State.SENT)
        claim_state_set(claim=claim, to_state=RefundClaim.State.SCHEDULED, actor=None, kind="scheduled")
    return batch


def _paid(claim: RefundClaim) -> None:
    Payout.objects.filter(claim=claim, state=Payout.State.SENT).update(state=Payout.State.PAID, result_at=timezone.now())
    claim_state_set(claim=claim, to_state=RefundClaim.State.PAID, actor=None, kind="paid")


def _returned(claim: RefundClaim) -> None:
    payout = Payout.objects.get(claim=claim, state=Payout.State.SENT)
    back = transfer_post(
        kind=Transfer.Kind.REFUND_PAYOUT_RETURN,
        legs=[Leg(system_account("payout_clearing"), -payout.amount_yen), Leg(system_account("refund_payable"), payout.amount_yen)],
        idempotency_key=f"test-return:{payout.pk}",
    )
    Payout.objects.filter(pk=payout.pk).update(state=Payout.State.RETURNED, result_reason="口座なし", return_transfer=back)
    claim_state_set(claim=claim, to_state=RefundClaim.State.RETURNED, actor=None, kind="returned")


@pytest.fixture
def programme() -> ShutdownProgramme:
    """Claims in every state, holders who never claimed, and wallets that are no holders."""
    programme = make_programme()
    paid = bank_claim(funded_customer("paid@example.jp", amount_yen=1_000, password=None), 1_000, account_number="1000001")
    in_flight = bank_claim(funded_customer("flight@example.jp", amount_yen=2_000, password=None), 2_000, account_number="1000002")
    bank_claim(
        funded_customer("review@example.jp", amount_yen=3_000, password=None), 3_000, account_number="1000003", holder_name="ｻﾄｳ ｼﾞﾛｳ"
    )
    rejected = bank_claim(
        funded_customer("rejected@example.jp", amount_yen=4_000, password=None), 4_000, account_number="1000004", holder_name="ｻﾄｳ"
    )
    returned = bank_claim(funded_customer("returned@example.jp", amount_yen=1_500, password=None), 1_500, account_number="1000005")
    funded_customer("never@example.jp", amount_yen=500, name_kana="ミセイキュウ タロウ", password=None)
    wallet_account_for(make_customer("empty@example.jp"))
    funded_staff("clerk@anzenpay.example", "support", 700)
    claim_review_reject(claim=rejected, acting_user=make_staff("fraud@anzenpay.example", "fraud_analyst"), note="not theirs")
    _release([paid, in_flight, returned])
    _paid(paid)
    _returned(returned)
    # Spread the history over three weeks: two claims filed two weeks ago, the payment last week.
    now = timezone.now()
    RefundClaim.objects.filter(pk__in=[paid.pk, in_flight.pk]).update(created_at=now - timedelta(days=14))
    RefundClaim.objects.filter(pk=paid.pk).update(paid_at=now - timedelta(days=7))
    return programme


def _finance(client: Client) -> None:
    otp_login(client, make_staff("finance@anzenpay.example", "finance"))


def test_the_figures_equal_the_totals_computed_by_hand(programme: ShutdownProgramme) -> None:
    states = {s.state: (s.claims, s.yen) for s in reports.claims_by_state(programme)}
    assert states == {
        "review": (1, 3_000),
        "approved": (0, 0),
        "scheduled": (1, 2_000),
        "paid": (1, 1_000),
        "returned": (1, 1_500),
        "rejected": (1, 4_000),
    }
    paid = reports.paid_totals(programme)
    assert (paid.holders, paid.yen, paid.average_yen) == (1, 1_000, 1_000)
    open_ = reports.open_claim_totals(programme)
    assert (open_.holders, open_.yen) == (3, 6_500)
    # Unclaimed: the rejected claimant (¥4,000 back in the wallet) and the one who never claimed (¥500);
    # not the empty wallet, not the staff member's.
    unclaimed = reports.unclaimed_totals(programme)
    assert (unclaimed.holders, unclaimed.yen, unclaimed.average_yen) == (2, 4_500, 2_250)
    ledger = reports.ledger_reconciliation()
    assert ledger.refund_payable_yen == 3_000 + 1_500  # in review, returned by the bank
    assert ledger.payout_clearing_yen == 1_000 + 2_000  # paid, released and waiting for the bank
    assert ledger.claims_not_rejected_yen == 7_500 == ledger.ledger_total_yen
    assert ledger.balanced
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    weeks = reports.weekly_progress(programme)
    assert [(w.start, w.filed, w.filed_yen, w.paid, w.paid_yen) for w in weeks] == [
        (monday - timedelta(days=14), 2, 3_000, 0, 0),
        (monday - timedelta(days=7), 0, 0, 1, 1_000),
        (monday, 3, 8_500, 0, 0),
    ]


def test_the_average_rounds_half_up_to_the_yen() -> None:
    assert reports.HolderTotals(holders=3, yen=1_000).average_yen == 333
    assert reports.HolderTotals(holders=2, yen=3).average_yen == 2
    assert reports.HolderTotals(holders=0, yen=0).average_yen == 0


def test_a_stray_entry_shows_as_a_difference(client: Client, programme: ShutdownProgramme) -> None:
    transfer_post(
        kind=Transfer.Kind.ADJUSTMENT,
        legs=[Leg(system_account("compensation_expense"), -123), Leg(system_account("refund_payable"), 123)],
        idempotency_key="stray",
    )
    ledger = reports.ledger_reconciliation()
    assert not ledger.balanced
    assert [(line, ledger_yen - expected) for line, expected, ledger_yen in ledger.lines] == [
        ("refund_payable", 123),
        ("payout_clearing", 0),
        ("total", 123),
    ]
    _finance(client)
    body = client.get(reverse("refunds_staff:reports")).content.decode()
    assert "<strong>¥123</strong>" in body and "check it" in body


def test_the_reports_page_charts_and_tables(client: Client, programme: ShutdownProgramme) -> None:
    _finance(client)
    response = client.get(reverse("refunds_staff:reports"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<svg") >= 5 and "Claims filed and paid per week" in body
    assert "¥4,500" in body and "¥2,250 on average" in body and "balanced" in body
    assert "paid to 1 holders" in body
    for table in reports_tables():
        assert reverse("refunds_staff:reports_export", args=[table]) in body


def reports_tables() -> tuple[str, ...]:
    from refunds.views.staff_reports import TABLES

    return TABLES


def test_each_table_exports_as_audited_csv(client: Client, programme: ShutdownProgramme) -> None:
    _finance(client)

    def rows(table: str) -> list[list[str]]:
        response = client.get(reverse("refunds_staff:reports_export", args=[table]))
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]

    assert rows("states")[1:] == [
        ["review", "Waiting for staff review", "1", "3000"],
        ["approved", "Approved, waiting for the next payout", "0", "0"],
        ["scheduled", "In a payout batch", "1", "2000"],
        ["paid", "Paid", "1", "1000"],
        ["returned", "Returned by the bank: details to correct", "1", "1500"],
        ["rejected", "Rejected", "1", "4000"],
    ]
    assert rows("holders")[1:] == [["paid", "1", "1000", "1000"], ["open_claim", "3", "6500", "2167"], ["unclaimed", "2", "4500", "2250"]]
    assert [row[1:4] for row in rows("weeks")[1:]] == [["2", "3000", "0"], ["0", "0", "1"], ["3", "8500", "0"]]
    assert [row[2:] for row in rows("ledger")[1:]] == [["4500", "4500", "0"], ["3000", "3000", "0"], ["7500", "7500", "0"]]
    assert client.get(reverse("refunds_staff:reports_export", args=["nope"])).status_code == 404
    exports = StaffAction.objects.filter(action="refund.export_report").order_by("id")
    assert [a.after["filters"] for a in exports] == ["table=states", "table=holders", "table=weeks", "table=ledger"]


def test_the_unclaimed_report_waits_for_the_deadline_then_pages_by_keyset(client: Client, programme: ShutdownProgramme) -> None:
    _finance(client)
    before = client.get(reverse("refunds_staff:unclaimed")).content.decode()
    assert "once the claim deadline has passed" in before
    refused = client.get(reverse("refunds_staff:unclaimed_export"), follow=True)
    assert "nothing was exported" in refused.content.decode()
    assert not StaffAction.objects.filter(action="refund.export_unclaimed").exists()

    now = timezone.now()
    ShutdownProgramme.objects.filter(pk=programme.pk).update(
        claims_open_at=now - timedelta(days=70), service_ends_at=now - timedelta(days=69), claims_close_at=now - timedelta(days=1)
    )
    page = client.get(reverse("refunds_staff:unclaimed"))
    assert page.status_code == 200
    holders = page.context["holders"]
    assert [(h.email, h.balance_yen) for h in holders] == [("rejected@example.jp", 4_000), ("never@example.jp", 500)]
    assert "ミセイキュウ タロウ" in page.content.decode()

    # One holder a page: next, then previous, by account id.
    first = reports.unclaimed_holders(programme, limit=1)
    second = reports.unclaimed_holders(programme, after=first[0].account_id, limit=1)
    assert [h.email for h in (*first, *second)] == ["rejected@example.jp", "never@example.jp"]
    assert reports.unclaimed_holders(programme, after=second[0].account_id, limit=1) == []
    assert reports.unclaimed_holders(programme, before=second[0].account_id, limit=1) == first

    export = client.get(reverse("refunds_staff:unclaimed_export"))
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0] == ["customer_id", "email", "name_kana", "balance_yen"]
    assert [row[1:] for row in rows[1:]] == [
        ["rejected@example.jp", "ヤマダ ハナコ", "4000"],
        ["never@example.jp", "ミセイキュウ タロウ", "500"],
    ]
    action = StaffAction.objects.get(action="refund.export_unclaimed")
    assert action.after["rows"] == 2


def test_the_reports_cost_a_fixed_number_of_queries_whatever_the_number_of_holders(client: Client, programme: ShutdownProgramme) -> None:
    _finance(client)
    client.get(reverse("refunds_staff:reports"))  # the session's first request writes its own rows
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("refunds_staff:reports")).status_code == 200
    for i in range(20):
        bank_claim(funded_customer(f"more{i}@example.jp", amount_yen=100 + i, password=None), 100 + i, account_number=f"20000{i:02d}")
        funded_customer(f"idle{i}@example.jp", amount_yen=50, password=None)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("refunds_staff:reports")).status_code == 200
    assert len(many) == len(few)
    assert reports.unclaimed_totals(programme).holders == 22


def test_only_finance_and_supervisors_see_the_reports(client: Client, programme: ShutdownProgramme) -> None:
    for role in ("support", "fraud_analyst"):
        otp_login(client, make_staff(f"{role}@anzenpay.example", role))
        assert client.get(reverse("refunds_staff:reports")).status_code == 403
        assert client.get(reverse("refunds_staff:reports_export", args=["states"])).status_code == 403
        assert client.get(reverse("refunds_staff:unclaimed_export")).status_code == 403
    assert not StaffAction.objects.filter(action__startswith="refund.export").exists()


def test_without_a_programme_the_pages_say_so(client: Client) -> None:
    _finance(client)
    assert "There is no shutdown programme yet: nothing to report." in client.get(reverse("refunds_staff:reports")).content.decode()
    assert "There is no shutdown programme yet." in client.get(reverse("refunds_staff:unclaimed")).content.decode()
    refused = client.get(reverse("refunds_staff:reports_export", args=["states"]), follow=True)
    assert "nothing was exported" in refused.content.decode()
    assert not StaffAction.objects.filter(action__startswith="refund.export").exists()
