"""Building payout batches: every approved claim once with the right amount in a file the
Zengin reader accepts, nothing when nothing is approved, holds re-checked at batch time."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.core.management import call_command

from backoffice.models import Case, StaffAction
from refunds.models import ClaimEvent, Payout, PayoutBatch, RefundClaim
from refunds.services.errors import RefundRefused
from refunds.services.payouts import POSTAL_CSV_HEADER, payout_batch_build, payout_batch_file
from refunds.zengin.calendar import is_bank_business_day
from refunds.zengin.transfer_file import read_transfer_file
from tests.backoffice.helpers import make_staff
from tests.refunds.factories import approved_postal_claim, funded_customer, make_programme
from tests.refunds.payout_helpers import approved_bank_claims
from wallet.models import AccountFreeze

pytestmark = pytest.mark.django_db


def test_build_writes_every_approved_claim_once_with_its_amount() -> None:
    make_programme()
    claims = approved_bank_claims(5)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK, task_id="task-1")
    assert batch is not None
    assert batch.state == PayoutBatch.State.AWAITING_RELEASE
    assert batch.payout_count == 5 and batch.total_yen == sum(c.amount_yen for c in claims)
    assert is_bank_business_day(batch.transfer_date) and batch.transfer_date > date.today()
    parsed = read_transfer_file(payout_batch_file(batch=batch))
    assert parsed.header.transfer_mmdd == f"{batch.transfer_date:%m%d}"
    assert parsed.trailer_count == 5 and parsed.trailer_total == batch.total_yen
    payouts = {p.pk: p for p in Payout.objects.filter(batch=batch)}
    assert Counter(r.record.customer_code_1 for r in parsed.records) == Counter(list(payouts))  # each payout exactly once
    by_claim = {p.claim_id: p for p in payouts.values()}
    for claim in claims:
        record = next(r.record for r in parsed.records if r.record.customer_code_1 == by_claim[claim.pk].pk)
        assert record.amount_yen == claim.amount_yen and record.new_code == 1
        assert record.recipient_name == "ﾔﾏﾀﾞ ﾊﾅｺ" and record.bank_code == "0001"
    assert set(RefundClaim.objects.values_list("state", flat=True)) == {RefundClaim.State.SCHEDULED}
    assert ClaimEvent.objects.filter(kind="batched", to_state="scheduled").count() == 5
    event = ClaimEvent.objects.filter(kind="batched").first()
    assert event is not None and event.detail["batch"] == batch.pk and event.detail["payout"] in payouts
    assert StaffAction.objects.filter(action="payout_batch.build", target_id=str(batch.pk)).exists()
    assert batch.built_by_task == "task-1" and batch.file_name.endswith(".txt")
    call_command("ledger_check")


def test_a_second_build_finds_nothing_and_no_approved_claims_build_nothing() -> None:
    make_programme()
    assert payout_batch_build(method=PayoutBatch.Method.BANK) is None
    approved_bank_claims(2)
    assert payout_batch_build(method=PayoutBatch.Method.BANK) is not None
    assert payout_batch_build(method=PayoutBatch.Method.BANK) is None
    assert payout_batch_build(method=PayoutBatch.Method.POSTAL) is None
    assert PayoutBatch.objects.count() == 1 and Payout.objects.count() == 2


def test_a_claim_frozen_or_with_an_open_case_at_batch_time_is_held_for_review() -> None:
    make_programme()
    frozen, cased, clean = approved_bank_claims(3)
    AccountFreeze.objects.create(user=frozen.customer, scope=AccountFreeze.Scope.DEBITS, source=AccountFreeze.Source.STAFF, reason="x")
    Case.objects.create(customer=cased.customer)
    batch = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert batch is not None and batch.payout_count == 1
    assert list(Payout.objects.values_list("claim_id", flat=True)) == [clean.pk]
    frozen.refresh_from_db()
    cased.refresh_from_db()
    assert frozen.state == cased.state == RefundClaim.State.REVIEW
    assert "frozen" in frozen.hold_reasons and "case_open" in cased.hold_reasons
    assert frozen.events.filter(kind="held", from_state="approved", to_state="review").exists()


def test_an_invalid_transfer_date_or_method_is_refused() -> None:
    make_programme()
    approved_bank_claims(1)
    with pytest.raises(RefundRefused) as refused:
        payout_batch_build(method=PayoutBatch.Method.BANK, transfer_date=date(2027, 1, 2))
    assert refused.value.code == "not_business_day"
    with pytest.raises(RefundRefused):
        payout_batch_build(method="cheque")
    assert not PayoutBatch.objects.exists()
    support = make_staff("support@anzenpay.example", "support")
    with pytest.raises(RefundRefused) as not_allowed:
        payout_batch_build(method=PayoutBatch.Method.BANK, acting_user=support)
    assert not_allowed.value.code == "not_allowed"


def test_a_postal_batch_is_a_documented_utf8_csv() -> None:
    make_programme()
    customer = funded_customer("post@example.jp", amount_yen=4_321)
    claim = approved_postal_claim(customer, 4_321, make_staff("finance@anzenpay.example", "finance"))
    assert claim.state == RefundClaim.State.APPROVED
    batch = payout_batch_build(method=PayoutBatch.Method.POSTAL)
    assert batch is not None and batch.file_name.endswith(".csv")
    lines = payout_batch_file(batch=batch).decode("utf-8").splitlines()
    assert lines[0] == ",".join(POSTAL_CSV_HEADER)
    payout = Payout.objects.get()
    assert lines[1] == f"{payout.pk},{claim.number},山田 花子,ヤマダ ハナコ,100-0001,東京都千代田区千代田1-1,4321"
    assert batch.total_yen == 4_321 and payout.postal_details_id is not None and payout.bank_details_id is None


def test_the_scheduled_task_builds_both_methods_on_bank_business_days_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.utils import timezone

    from refunds.tasks import payout_batches_build

    make_programme()
    approved_bank_claims(2)
    approved_postal_claim(funded_customer("post@example.jp", amount_yen=900), 900, make_staff("finance@anzenpay.example", "finance"))
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2027, 1, 1))  # New Year's Day: banks are closed
    assert payout_batches_build() == []
    assert not PayoutBatch.objects.exists()
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2027, 1, 4))  # the first business day of 2027
    built = payout_batches_build.delay().get()
    batches = PayoutBatch.objects.filter(pk__in=built)
    assert sorted(batches.values_list("method", flat=True)) == ["bank", "postal"]
    assert set(batches.values_list("transfer_date", flat=True)) == {date(2027, 1, 5)}
    assert payout_batches_build(force=True) == []  # nothing left


def test_the_schedule_is_a_beat_row_finance_can_edit() -> None:
    from django.conf import settings
    from django.contrib.auth.models import Group
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="refund payout batches")
    assert task.task == "refunds.tasks.payout_batches_build" and task.enabled
    assert task.crontab is not None
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, str(crontab.timezone)) == ("0", "9", "mon-fri", "Asia/Tokyo")
    assert Group.objects.get(name="finance").permissions.filter(codename="change_periodictask").exists()
    sweep = settings.CELERY_BEAT_SCHEDULE["payout-deliveries-sweep"]
    assert sweep["task"] == "refunds.tasks.payout_deliveries_sweep" and sweep["schedule"] == 300.0
    assert settings.CELERY_TASK_ROUTES["refunds.tasks.payout*"] == {"queue": "payouts"}


@pytest.mark.django_db(transaction=True)
def test_two_builds_at_once_make_one_batch() -> None:
    import threading

    from django.db import connection

    make_programme()
    claims = approved_bank_claims(20)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def build() -> None:
        try:
            barrier.wait()
            results.append(payout_batch_build(method=PayoutBatch.Method.BANK))
        except Exception as exc:  # surfaced by the assertion below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    built = [r for r in results if isinstance(r, PayoutBatch)]
    assert len(built) == 1 and results.count(None) == 1, results
    assert Payout.objects.count() == 20 and PayoutBatch.objects.count() == 1
    assert sorted(Payout.objects.values_list("claim_id", flat=True)) == sorted(c.pk for c in claims)
    call_command("ledger_check")
