"""Releasing a batch needs a second finance user; the release posts one ledger transfer, marks
the payouts sent and delivers the file once, however often delivery runs."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from backoffice.models import Approval, StaffAction
from backoffice.services.approvals import ApprovalRefused, approval_approve, approval_reject
from backoffice.services.switches import channel_switch_flip
from refunds.adapters.bank_delivery import BankDeliveryConflict, BankDeliveryError, FolderBankDelivery
from refunds.models import Payout, PayoutBatch
from refunds.selectors.payouts import BatchFilters, payout_batches
from refunds.services.errors import RefundRefused
from refunds.services.payouts import (
    batch_state_effective,
    payout_batch_build,
    payout_batch_deliver,
    payout_batch_release_request,
    payout_deliveries_pending,
)
from refunds.tasks import payout_deliveries_sweep
from tests.backoffice.helpers import make_staff
from tests.refunds.factories import make_programme
from tests.refunds.payout_helpers import approve_delivering, approved_bank_claims, balance, finance_pair, released_batch
from wallet.models import Transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch() -> PayoutBatch:
    make_programme()
    approved_bank_claims(3)
    built = payout_batch_build(method=PayoutBatch.Method.BANK)
    assert built is not None
    return built


def test_release_by_a_second_finance_user_posts_once_marks_sent_and_delivers(batch: PayoutBatch, tmp_path: Path) -> None:
    maker, checker = finance_pair()
    payable_before = balance("refund_payable")
    approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="weekly payout")
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.RELEASE_REQUESTED and batch.release_approval == approval
    assert approval.kind == Approval.Kind.PAYOUT_RELEASE and approval.payload == {"batch": batch.pk}
    approve_delivering(approval, checker, tmp_path)
    batch.refresh_from_db()
    # Eager Celery ran the delivery task on commit.
    assert batch.state == PayoutBatch.State.DELIVERED and batch.released_by == checker and batch.released_at is not None
    assert set(Payout.objects.filter(batch=batch).values_list("state", flat=True)) == {Payout.State.SENT}
    transfer = Transfer.objects.get(idempotency_key=f"payout_batch:{batch.pk}")
    assert transfer.kind == Transfer.Kind.REFUND_PAYOUT and batch.transfer == transfer
    assert balance("refund_payable") == payable_before - batch.total_yen
    assert balance("payout_clearing") == batch.total_yen
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [batch.file_name]
    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == batch.file_sha256
    # Delivering again (a redelivered task, the sweep) changes nothing and writes no second file.
    with override_settings(BANK_DELIVERY_DIR=tmp_path):
        again = payout_batch_deliver(batch_id=batch.pk)
        assert payout_deliveries_sweep() == 0
    assert again is not None and again.delivery_reference == batch.delivery_reference
    assert [f.name for f in tmp_path.iterdir()] == [batch.file_name]
    assert Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT).count() == 1
    actions = set(StaffAction.objects.filter(target_id=str(batch.pk)).values_list("action", flat=True))
    assert {"payout_batch.build", "payout_batch.release_request", "payout_batch.release", "payout_batch.deliver"} <= actions
    call_command("ledger_check")


def test_the_maker_cannot_release_their_own_request(batch: PayoutBatch) -> None:
    maker, _checker = finance_pair()
    approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="weekly payout")
    with pytest.raises(ApprovalRefused) as refused:
        approval_approve(approval=approval, checker=maker)
    assert refused.value.code == "own_request"
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.RELEASE_REQUESTED
    assert not Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT).exists()


def test_a_non_finance_user_can_neither_request_nor_approve(batch: PayoutBatch) -> None:
    maker, _checker = finance_pair()
    support = make_staff("support@anzenpay.example", "support")
    fraud = make_staff("fraud@anzenpay.example", "fraud_analyst")
    with pytest.raises(RefundRefused) as refused:
        payout_batch_release_request(batch=batch, acting_user=support, reason="please")
    assert refused.value.code == "not_allowed"
    approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="weekly payout")
    for outsider in (support, fraud):
        with pytest.raises(ApprovalRefused) as not_allowed:
            approval_approve(approval=approval, checker=outsider)
        assert not_allowed.value.code == "not_allowed"
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.RELEASE_REQUESTED and batch.released_by is None


def test_a_second_request_is_refused_and_a_rejected_one_can_be_asked_again(batch: PayoutBatch, tmp_path: Path) -> None:
    maker, checker = finance_pair()
    approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="weekly payout")
    with pytest.raises(RefundRefused) as twice:
        payout_batch_release_request(batch=batch, acting_user=maker, reason="again")
    assert twice.value.code == "already_requested"
    approval_reject(approval=approval, checker=checker, note="wrong date")
    batch.refresh_from_db()
    assert batch_state_effective(batch) == PayoutBatch.State.AWAITING_RELEASE
    assert list(payout_batches(BatchFilters(state=PayoutBatch.State.AWAITING_RELEASE))) == [batch]
    assert not payout_batches(BatchFilters(state=PayoutBatch.State.RELEASE_REQUESTED)).exists()
    second = payout_batch_release_request(batch=batch, acting_user=checker, reason="date fixed")
    # The old approval cannot be replayed; the new one releases.
    approve_delivering(second, maker, tmp_path)
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.DELIVERED and batch.release_approval == second


def test_an_expired_request_returns_the_batch_to_awaiting_release(batch: PayoutBatch) -> None:
    maker, checker = finance_pair()
    approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="weekly payout")
    Approval.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    batch.refresh_from_db()
    assert batch_state_effective(batch) == PayoutBatch.State.AWAITING_RELEASE
    with pytest.raises(ApprovalRefused):
        approval_approve(approval=approval, checker=checker)
    assert payout_batch_release_request(batch=batch, acting_user=maker, reason="once more").pk != approval.pk


def test_a_tampered_file_or_a_switched_off_channel_is_not_released(batch: PayoutBatch) -> None:
    maker, checker = finance_pair()
    supervisor = make_staff("supervisor@anzenpay.example", "supervisor")
    approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="weekly payout")
    channel_switch_flip(name="payout.bank", enabled=False, reason="bank outage", acting_user=supervisor)
    with pytest.raises(ApprovalRefused) as off:
        approval_approve(approval=approval, checker=checker)
    assert off.value.code == "channel_off"
    PayoutBatch.objects.filter(pk=batch.pk).update(file_content=b"tampered")
    with pytest.raises(ApprovalRefused) as corrupt:
        approval_approve(approval=approval, checker=checker)
    assert corrupt.value.code == "file_corrupt"
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.RELEASE_REQUESTED
    assert not Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT).exists()


def test_a_failed_delivery_is_counted_and_the_sweep_retries_it(batch: PayoutBatch, tmp_path: Path) -> None:
    maker, checker = finance_pair()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    batch = released_batch(maker, checker, blocked, batch=batch)
    assert batch.state == PayoutBatch.State.RELEASED
    assert batch.delivery_attempts == 1 and "BankDeliveryError" in batch.last_delivery_error
    assert payout_deliveries_pending() == [batch.pk]
    with override_settings(BANK_DELIVERY_DIR=tmp_path / "outbox"):
        assert payout_deliveries_sweep() == 1
    batch.refresh_from_db()
    assert batch.state == PayoutBatch.State.DELIVERED and batch.last_delivery_error == ""
    assert (tmp_path / "outbox" / batch.file_name).exists()
    assert payout_deliveries_pending() == []


def test_the_folder_backend_is_idempotent_and_never_overwrites(tmp_path: Path) -> None:
    backend = FolderBankDelivery(tmp_path)
    content = b"1" * 120
    digest = hashlib.sha256(content).hexdigest()
    first = backend.deliver("a.txt", content, digest)
    assert backend.deliver("a.txt", content, digest) == first
    other = b"2" * 120
    with pytest.raises(BankDeliveryConflict):
        backend.deliver("a.txt", other, hashlib.sha256(other).hexdigest())
    with pytest.raises(BankDeliveryError):
        backend.deliver("b.txt", content, "0" * 64)  # the digest must match the bytes
    with pytest.raises(BankDeliveryError):
        backend.deliver("../escape.txt", content, digest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (tmp_path / "a.txt").read_bytes() == content
