"""T5: Redis redelivers a payout task (short visibility timeout, late ack) to a second worker
while the first still runs it, and once more after both finished: 0 duplicate effects.

Two real workers, A and B, on the ``payouts`` queue, with a one-second visibility
timeout. The test makes the first delivery outlast it, deterministically, by holding
what the task will wait for, from another database session:

- the build (``refunds.tasks.payout_batches_build``): the per-method advisory lock the
  build takes first in its transaction. A blocks on it; Redis hands the unacknowledged
  message to B, which blocks too; then the lock is let go. One batch, each claim once.
- the delivery (``refunds.tasks.payout_batch_deliver``, published when the release
  commits): the batch row, which the delivery's compare-and-set update needs after the
  adapter wrote the file. A writes the file and blocks; B gets the message, finds the
  file there with the same SHA-256, and blocks; then the row is let go. One file in the
  folder, the batch marked delivered once (one audit row, one attempt counted).

Then both messages are published again with their original task ids (a redelivery after
the work is done): nothing changes. One ledger transfer for the release throughout, and
``ledger_check`` clean.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backoffice.models import StaffAction
from backoffice.services.approvals import approval_approve
from refunds.models import Payout, PayoutBatch, RefundClaim
from refunds.services.payouts import payout_batch_release_request
from refunds.zengin.transfer_file import read_transfer_file
from tests.backoffice.helpers import make_staff
from tests.refunds.seeding import approved_bank_claims_seed
from tests.reliability.celery_workers import (
    Worker,
    broker_pending,
    redelivery_settings,
    sessions_waiting_for_a_lock,
    wait_until,
    worker_database_url,
    workers_running,
)
from wallet.models import Transfer
from wallet.services.ledger_audit import ledger_verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLAIMS = 2_000
VISIBILITY_TIMEOUT = 1.0
BUILD = "refunds.tasks.payout_batches_build"
DELIVER = "refunds.tasks.payout_batch_deliver"
BUILD_LOCK = "SELECT pg_advisory_lock(hashtextextended('refunds.payout_batch_build:bank', 0))"


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    with workers_running() as started:
        yield started


def _deliveries(workers: list[Worker], task: str) -> Counter[str]:
    """Which worker took the ``task`` message how many times."""
    return Counter({worker.name: len(worker.received(task)) for worker in workers if worker.received(task)})


def _quiet(workers: list[Worker], task: str) -> bool:
    """Nothing queued or unacknowledged, and every delivery of ``task`` has finished."""
    received = sum(len(worker.received(task)) for worker in workers)
    finished = sum(len(worker.succeeded(task)) for worker in workers)
    return broker_pending("payouts") == (0, 0) and received == finished


def _redelivered_while_running(workers: list[Worker], gate: psycopg.Connection, task: str) -> Counter[str]:
    """A takes the message and blocks on the gate; once the visibility timeout passes Redis gives it to B.
    Then the gate opens and both finish. Returns the deliveries per worker."""
    first, second = workers
    first.consume("payouts")
    wait_until(lambda: first.received(task), timeout=30, message=lambda: f"A never got {task}:\n{first.text()[-3000:]}")
    wait_until(
        lambda: sessions_waiting_for_a_lock() == 1, timeout=30, message=lambda: f"A did not block on the gate:\n{first.text()[-3000:]}"
    )
    # A is blocked and never acknowledges: once the visibility timeout has passed Redis puts the message back, for B.
    second.consume("payouts")
    wait_until(lambda: second.received(task), timeout=30, message=lambda: f"B never got {task}:\n{second.text()[-3000:]}")
    wait_until(
        lambda: sessions_waiting_for_a_lock() == 2, timeout=30, message=lambda: f"B did not block on the gate:\n{second.text()[-3000:]}"
    )
    assert not first.succeeded(task) and not second.succeeded(task), "the gate did not hold the task"
    gate.rollback()
    gate.execute("SELECT pg_advisory_unlock_all()")
    wait_until(lambda: _quiet(workers, task), timeout=60, message=lambda: f"{task} did not settle:\n{second.text()[-3000:]}")
    return _deliveries(workers, task)


def _effects(directory: Path) -> dict[str, object]:
    return {
        "batches": PayoutBatch.objects.count(),
        "payouts": Payout.objects.count(),
        "files": sorted(path.name for path in directory.iterdir() if not path.name.startswith(".")) if directory.exists() else [],
        "delivered_marks": StaffAction.objects.filter(action="payout_batch.deliver").count(),
        "builds": StaffAction.objects.filter(action="payout_batch.build").count(),
        "payout_transfers": Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT).count(),
        "attempts": list(PayoutBatch.objects.values_list("delivery_attempts", flat=True)),
    }


def test_t05_redelivered_build_and_delivery_have_one_effect(workers: list[Worker], tmp_path: Path) -> None:
    outbox = tmp_path / "bank-outbox"
    settings = {**redelivery_settings(VISIBILITY_TIMEOUT, restore_every=0.25), "BANK_DELIVERY_DIR": str(outbox)}
    # Both start on a queue nobody publishes to, so the test decides who takes the message first.
    for name in ("t5-a", "t5-b"):
        workers.append(Worker(name, tmp_path / f"{name}.log", queues=("payouts-standby",), concurrency=1, settings=settings))
    seeded = approved_bank_claims_seed(count=CLAIMS)
    maker = make_staff("maker@anzenpay.example", "finance", totp=False)
    checker = make_staff("checker@anzenpay.example", "finance", totp=False)
    for worker in workers:
        worker.wait_ready()

    from refunds.tasks import payout_batch_deliver_task, payout_batches_build

    with psycopg.connect(worker_database_url()) as gate:
        # 1. The build, redelivered while the first worker waits for the build lock.
        gate.execute(BUILD_LOCK)
        build_message = payout_batches_build.apply_async(kwargs={"force": True})
        build_deliveries = _redelivered_while_running(workers, gate, BUILD)

        batch = PayoutBatch.objects.get()
        parsed = read_transfer_file(bytes(batch.file_content))
        codes = Counter(item.record.customer_code_1 for item in parsed.records)
        claims = Counter(Payout.objects.filter(pk__in=list(codes)).values_list("claim_id", flat=True))
        assert len(codes) == len(parsed.records) == batch.payout_count == CLAIMS
        assert set(claims.values()) == {1} and len(claims) == CLAIMS
        assert parsed.trailer_total == batch.total_yen == seeded.total_yen
        assert RefundClaim.objects.filter(state=RefundClaim.State.SCHEDULED).count() == CLAIMS

        # 2. The release (here, in the web's place) publishes the delivery on commit; the workers are not
        # consuming yet, so the batch row can be taken first: the delivery will wait for it after the upload.
        for worker in workers:
            worker.stop_consuming("payouts")
        approval = payout_batch_release_request(batch=batch, acting_user=maker, reason="T5")
        approval_approve(approval=approval, checker=checker)
        batch.refresh_from_db()
        assert batch.state == PayoutBatch.State.RELEASED
        # A worker that stopped consuming may still have had a read of the queue waiting: it receives the
        # message published now and puts it back ("Requeuing undeliverable message"), so wait for it there.
        wait_until(
            lambda: broker_pending("payouts") == (1, 0),
            timeout=30,
            message=lambda: f"the delivery was not queued: {broker_pending('payouts')}",
        )
        gate.execute("SELECT id FROM refunds_payoutbatch WHERE id = %s FOR UPDATE", [batch.pk])
        deliver_deliveries = _redelivered_while_running(workers, gate, DELIVER)
    after_redelivery = _effects(outbox)

    # 3. Redelivered once more, after everything finished: the same messages, the same task ids.
    deliver_id = next(iter(workers[0].received(DELIVER) or workers[1].received(DELIVER)))
    payout_batches_build.apply_async(kwargs={"force": True}, task_id=build_message.id)
    payout_batch_deliver_task.apply_async(args=(batch.pk,), task_id=deliver_id)
    wait_until(
        lambda: (
            _quiet(workers, BUILD)
            and _quiet(workers, DELIVER)
            and sum(len(w.succeeded(BUILD)) for w in workers) > sum(build_deliveries.values())
            and sum(len(w.succeeded(DELIVER)) for w in workers) > sum(deliver_deliveries.values())
        ),
        timeout=60,
        message="the late duplicates were not run",
    )
    final = _effects(outbox)
    batch.refresh_from_db()
    report = ledger_verify()
    sys.stdout.write(
        f"\nT5: build deliveries {dict(build_deliveries)}, delivery deliveries {dict(deliver_deliveries)}; "
        f"after the redeliveries {after_redelivery}; after late duplicates {final}; ledger_ok={report.ok}\n"
    )
    assert len(build_deliveries) == 2 and len(deliver_deliveries) == 2, "each message must have reached both workers"
    assert final == after_redelivery
    assert final["batches"] == 1 and final["payouts"] == CLAIMS and final["builds"] == 1
    assert final["files"] == [batch.file_name]
    assert (outbox / batch.file_name).read_bytes() == bytes(batch.file_content)
    assert final["delivered_marks"] == 1 and final["attempts"] == [1]
    assert final["payout_transfers"] == 1
    assert batch.state == PayoutBatch.State.DELIVERED
    assert report.ok, "\n".join(report.lines())
