"""Importing the bank's results: paid claims are paid and mailed; a returned payout's money
comes back to refund_payable, the claim reopens, and the corrected claim leaves in a later
batch with new-code 2. A bad file changes nothing; the same file twice is refused."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from backoffice.models import StaffAction
from refunds.models import Payout, PayoutBatch, PayoutResultImport, RefundClaim
from refunds.services.claims import claim_details_correct
from refunds.services.errors import RefundRefused
from refunds.services.payouts import (
    PayoutResultsAlreadyImported,
    PayoutResultsInvalid,
    payout_batch_build,
    payout_batch_file,
    payout_results_import,
)
from refunds.zengin.transfer_file import read_transfer_file
from tests.backoffice.helpers import make_staff
from tests.refunds.factories import bank_details, make_programme
from tests.refunds.payout_helpers import approved_bank_claims, balance, finance_pair, released_batch
from wallet.models import Notification, Transfer, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(tmp_path: Path) -> tuple[PayoutBatch, list[Payout], User]:
    make_programme()
    approved_bank_claims(3)
    maker, checker = finance_pair()
    batch = released_batch(maker, checker, tmp_path)
    assert batch.state == PayoutBatch.State.DELIVERED
    return batch, list(Payout.objects.filter(batch=batch).order_by("pk")), maker


def _csv(*rows: str) -> bytes:
    return ("payout_id,status,reason\r\n" + "".join(f"{row}\r\n" for row in rows)).encode()


def test_paid_results_pay_the_claims_and_mail_the_customers(delivered: tuple[PayoutBatch, list[Payout], User]) -> None:
    batch, payouts, finance = delivered
    result = payout_results_import(content=_csv(*(f"{p.pk},paid," for p in payouts)), file_name="bank.csv", acting_user=finance)
    assert (result.rows, result.paid, result.returned, result.unchanged) == (3, 3, 0, 0)
    assert result.paid_yen == batch.total_yen
    for payout in payouts:
        payout.refresh_from_db()
        assert payout.state == Payout.State.PAID and payout.result_import == result
        claim = payout.claim
        claim.refresh_from_db()
        assert claim.state == RefundClaim.State.PAID and claim.paid_at is not None
        assert claim.events.filter(kind="paid", from_state="scheduled", to_state="paid").count() == 1
        assert Notification.objects.filter(user=claim.customer, kind="refund_claim_paid", context__claim_number=claim.number).count() == 1
    assert StaffAction.objects.filter(action="payout_results.import", target_id=str(result.pk)).exists()
    # Money already left at release: paying changes no balance.
    assert balance("payout_clearing") == batch.total_yen
    call_command("ledger_check")


def test_a_return_reopens_the_claim_returns_the_money_and_the_correction_leaves_with_new_code_2(
    delivered: tuple[PayoutBatch, list[Payout], User], tmp_path: Path
) -> None:
    batch, payouts, finance = delivered
    returned, *paid = payouts
    payable_before = balance("refund_payable")
    payout_results_import(
        content=_csv(f"{returned.pk},returned,口座なし / no such account", *(f"{p.pk},paid," for p in paid)),
        file_name="bank.csv",
        acting_user=finance,
    )
    returned.refresh_from_db()
    claim = returned.claim
    claim.refresh_from_db()
    assert returned.state == Payout.State.RETURNED and returned.result_reason == "口座なし / no such account"
    assert claim.state == RefundClaim.State.RETURNED
    transfer = Transfer.objects.get(idempotency_key=f"payout_return:{returned.pk}")
    assert transfer.kind == Transfer.Kind.REFUND_PAYOUT_RETURN and returned.return_transfer == transfer
    assert balance("refund_payable") == payable_before + returned.amount_yen
    assert balance("payout_clearing") == batch.total_yen - returned.amount_yen
    mail = Notification.objects.get(user=claim.customer, kind="refund_payout_returned")
    assert mail.context == {
        "claim_number": claim.number,
        "amount_yen": returned.amount_yen,
        "reason": "口座なし / no such account",
        "method": "bank",
    }

    # The customer corrects the account; the claim is approved again and goes out with new-code 2.
    claim_details_correct(claim=claim, customer=claim.customer, bank=bank_details(account_number="7654321"), step_up_at=timezone.now())
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.APPROVED
    second = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert second is not None and second.payout_count == 1
    record = read_transfer_file(payout_batch_file(batch=second)).records[0].record
    assert record.new_code == 2 and record.account_number == "7654321" and record.amount_yen == claim.amount_yen
    again = Payout.objects.get(batch=second)
    assert again.claim_id == claim.pk and again.new_code == Payout.NewCode.CHANGED and record.customer_code_1 == again.pk
    maker, checker = User.objects.get(email="finance@anzenpay.example"), User.objects.get(email="finance2@anzenpay.example")
    released_batch(maker, checker, tmp_path / "second", batch=second)
    payout_results_import(content=_csv(f"{again.pk},paid,"), file_name="bank-2.csv", acting_user=finance)
    claim.refresh_from_db()
    assert claim.state == RefundClaim.State.PAID
    assert balance("payout_clearing") == batch.total_yen  # every yen of the claims left exactly once
    call_command("ledger_check")


def test_an_invalid_file_changes_nothing_and_names_every_bad_line(delivered: tuple[PayoutBatch, list[Payout], User]) -> None:
    batch, payouts, finance = delivered
    make_programme()
    undelivered_claim = approved_bank_claims(1, start=50)[0]
    undelivered = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert undelivered is not None
    not_delivered = Payout.objects.get(claim=undelivered_claim)
    content = _csv(
        f"{payouts[0].pk},paid,",
        "999999,paid,",
        f"{payouts[1].pk},bounced,",
        f"{payouts[2].pk},returned,",
        f"{payouts[0].pk},paid,",
        f"{not_delivered.pk},paid,",
        "abc,paid,",
    )
    with pytest.raises(PayoutResultsInvalid) as invalid:
        payout_results_import(content=content, file_name="bad.csv", acting_user=finance)
    errors = invalid.value.errors
    assert any(e.startswith("Line 4:") and "bounced" in e for e in errors), errors
    assert any(e.startswith("Line 5:") and "reason" in e for e in errors)
    assert any(e.startswith("Line 6:") and "already on line 2" in e for e in errors)
    assert any(e.startswith("Line 8:") and "not a payout id" in e for e in errors)
    # The database problems of the rows that parsed are listed in the same answer, in line order.
    assert any(e.startswith("Line 3:") and "no payout 999999" in e for e in errors)
    assert any(e.startswith("Line 7:") and "not been delivered" in e for e in errors)
    assert [int(e.split(":")[0].split()[1]) for e in errors] == sorted(int(e.split(":")[0].split()[1]) for e in errors)
    # The rows that parse are then checked against the database: nothing has been written in between.
    fixed = _csv(f"{payouts[0].pk},paid,", "999999,paid,", f"{not_delivered.pk},paid,")
    with pytest.raises(PayoutResultsInvalid) as unknown:
        payout_results_import(content=fixed, file_name="bad.csv", acting_user=finance)
    assert any(e.startswith("Line 3:") and "no payout 999999" in e for e in unknown.value.errors)
    assert any(e.startswith("Line 4:") and "not been delivered" in e for e in unknown.value.errors), unknown.value.errors
    assert not PayoutResultImport.objects.exists()
    assert set(Payout.objects.filter(batch=batch).values_list("state", flat=True)) == {Payout.State.SENT}
    assert not Notification.objects.filter(kind__in=["refund_claim_paid", "refund_payout_returned"]).exists()
    for bad in (b"", b"id,state\r\n1,paid\r\n", "payout_id,status,reason\r\n".encode("utf-16"), b"payout_id,status,reason\r\n"):
        with pytest.raises(PayoutResultsInvalid):
            payout_results_import(content=bad, file_name="bad.csv", acting_user=finance)


def test_a_paid_payout_reported_returned_later_is_an_error(delivered: tuple[PayoutBatch, list[Payout], User]) -> None:
    _batch, payouts, finance = delivered
    payout_results_import(content=_csv(f"{payouts[0].pk},paid,"), file_name="day1.csv", acting_user=finance)
    with pytest.raises(PayoutResultsInvalid) as invalid:
        payout_results_import(content=_csv(f"{payouts[0].pk},returned,name mismatch"), file_name="day2.csv", acting_user=finance)
    assert invalid.value.errors[0].startswith("Line 2:") and "paid earlier" in invalid.value.errors[0]
    payouts[0].refresh_from_db()
    assert payouts[0].state == Payout.State.PAID and not Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT_RETURN).exists()


def test_the_same_file_twice_is_refused_and_known_rows_count_as_unchanged(delivered: tuple[PayoutBatch, list[Payout], User]) -> None:
    _batch, payouts, finance = delivered
    first = _csv(f"{payouts[0].pk},paid,", f"{payouts[1].pk},returned,closed account")
    payout_results_import(content=first, file_name="day1.csv", acting_user=finance)
    with pytest.raises(PayoutResultsAlreadyImported) as twice:
        payout_results_import(content=first, file_name="day1-again.csv", acting_user=finance)
    assert twice.value.code == "already_imported" and twice.value.previous is not None
    overlapping = _csv(f"{payouts[0].pk},paid,", f"{payouts[1].pk},returned,closed account", f"{payouts[2].pk},paid,")
    result = payout_results_import(content=overlapping, file_name="day2.csv", acting_user=finance)
    assert (result.paid, result.returned, result.unchanged) == (1, 0, 2)
    assert Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT_RETURN).count() == 1
    assert Notification.objects.filter(kind="refund_payout_returned").count() == 1
    call_command("ledger_check")


def test_only_finance_imports(delivered: tuple[PayoutBatch, list[Payout], User]) -> None:
    _batch, payouts, _finance = delivered
    support = make_staff("support@anzenpay.example", "support")
    with pytest.raises(RefundRefused) as refused:
        payout_results_import(content=_csv(f"{payouts[0].pk},paid,"), file_name="x.csv", acting_user=support)
    assert refused.value.code == "not_allowed"


def test_the_development_bank_returns_accounts_ending_in_the_suffix(
    delivered: tuple[PayoutBatch, list[Payout], User], tmp_path: Path
) -> None:
    batch, payouts, finance = delivered
    target = payouts[1]
    assert target.bank_details is not None
    out = tmp_path / "results.csv"
    call_command("devbank_results", str(batch.pk), "--return-account-suffix", target.bank_details.account_number[-4:], "--out", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "payout_id,status,reason"
    assert f"{target.pk},returned,口座なし / no such account" in lines and f"{payouts[0].pk},paid," in lines
    result = payout_results_import(content=out.read_bytes(), file_name=out.name, acting_user=finance)
    assert (result.paid, result.returned) == (2, 1)
    stdout = StringIO()
    call_command("devbank_results", str(batch.pk), stdout=stdout)
    assert f"{target.pk},returned," in stdout.getvalue()  # known results are reported as they are
    with pytest.raises(CommandError):
        call_command("devbank_results", "999999")
