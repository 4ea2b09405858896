"""T4: ``kill -9`` of the Celery worker at random points, 20 times, during a 10k-payout batch.

10,000 approved bank claims (seeded set-based, tests/refunds/seeding.py). The scheduled
job ``refunds.tasks.payout_batches_build`` (force) is published once to the broker; a
real worker on the ``payouts`` queue takes it and is killed with SIGKILL of its whole
process group at a random point of the build's transaction, then a new worker takes
over, 20 times. A last worker is then left to finish.

Every kill lands inside the build's transaction because the test makes it so, not by
timing. The killed workers load tests/reliability/build_pause.py: the build signals
(``build_checkpoint``) when it holds its advisory lock, and stops for good at its last
checkpoint before the commit. The test waits for the first signal, lets a random delay
pass (up to the build's duration measured beforehand in a rolled-back transaction) and
kills: mid-statement somewhere in the build, or held just before its commit when the
delay outlasted it, however slow the machine. Nothing acknowledges the message, so the
next worker takes it (Redis puts it back after the short, for the test, visibility
timeout). Each next worker is started while the current one works and switched to
``payouts`` when it is killed, so the 20 cycles are not bound by Celery's start-up.

Pass: every kill inside the build's transaction, nothing committed before the last
worker; every approved claim is in the batches' files exactly once (each stored file
parsed with ``read_transfer_file``; customer code 1 is the payout id, which names the
claim), 0 duplicate, 0 missing, the trailers' totals equal the approved total, every
claim scheduled, ``ledger_check`` clean.

The delays come from ``random.Random(seed)``; the seed is printed (and drawn afresh
each run unless ``T4_SEED`` is set), so a failing run can be replayed with the same
kill points. ``T4_CLAIMS`` and ``T4_KILLS`` change the size.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, transaction

from refunds.models import BankDetails, Payout, PayoutBatch, RefundClaim
from refunds.services.payouts import payout_batch_build, zengin_originator
from refunds.zengin.transfer_file import read_transfer_file
from tests.refunds.seeding import approved_bank_claims_seed
from tests.reliability.build_pause import CHECKPOINTS_ENV, HOLD_ENV, checkpoint_reached
from tests.reliability.celery_workers import Worker, broker_pending, redelivery_settings, wait_until, workers_running
from wallet.services.ledger_audit import ledger_verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLAIMS = int(os.environ.get("T4_CLAIMS", "10000"))
KILLS = int(os.environ.get("T4_KILLS", "20"))
SEED = int(os.environ.get("T4_SEED") or random.SystemRandom().randrange(2**31))
TASK = "refunds.tasks.payout_batches_build"
# Redis gives an unacknowledged message to a worker again this long after delivering it (kombu's default
# is an hour). Short, so each kill cycle takes seconds; a fresh worker's first build (bank master load
# and all) may outlast it, and then the message also comes back once more after the build committed, to
# find nothing left to build: the redelivery T5 is about, harmless here too.
VISIBILITY_TIMEOUT = 2.0
WORKER_SETTINGS = redelivery_settings(VISIBILITY_TIMEOUT)
# The killed workers' builds stop for good here, after everything is written and before the commit.
HELD_AT = "built"


class _Rollback(Exception):
    pass


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    with workers_running() as started:
        yield started


def _build_seconds() -> float:
    """How long one build's transaction takes here (bank master loaded), measured in a rolled-back transaction."""
    zengin_originator()
    began = time.perf_counter()
    try:
        with transaction.atomic():
            batch = payout_batch_build(method=PayoutBatch.Method.BANK)
            assert batch is not None and batch.payout_count == CLAIMS
            raise _Rollback
    except _Rollback:
        pass
    assert not PayoutBatch.objects.exists() and not Payout.objects.exists()
    return time.perf_counter() - began


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _build_running() -> bool:
    """Whether another session (the worker's) holds an advisory lock on this database: the build takes
    its per-method lock first thing in its transaction and keeps it until commit or rollback."""
    return bool(
        _count(
            """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
        )
    )


def _sessions_gone() -> bool:
    """The killed worker's backend has noticed and rolled back (it may still be finishing a statement)."""
    return not _count(
        """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND backend_type = 'client backend' AND xact_start IS NOT NULL"""
    )


def _checkpoints(directory: Path, name: str) -> Path:
    return directory / f"{name}-checkpoints"


def _worker(name: str, directory: Path, *, hold: bool = True) -> Worker:
    """A worker that consumes nothing yet (a queue under ``payouts*`` that nobody publishes to). Its builds
    signal their checkpoints into ``_checkpoints(directory, name)`` and, with ``hold``, stop for good at the
    last one before the commit (tests/reliability/build_pause.py)."""
    env = {CHECKPOINTS_ENV: str(_checkpoints(directory, name))}
    if hold:
        env[HOLD_ENV] = HELD_AT
    return Worker(
        name,
        directory / f"{name}.log",
        queues=("payouts-standby",),
        concurrency=1,
        settings=WORKER_SETTINGS,
        preload=("tests.reliability.build_pause",),
        env=env,
    )


def _wait_build_started(worker: Worker, directory: Path) -> None:
    """The worker's build took its advisory lock: its transaction is open."""
    wait_until(
        lambda: checkpoint_reached(_checkpoints(directory, worker.name), "locked"),
        timeout=60,
        message=lambda: f"seed={SEED}: no build started:\n{worker.text()[-3000:]}",
        every=0.01,
    )


def _wait_received(worker: Worker) -> None:
    wait_until(
        lambda: worker.received(TASK),
        timeout=VISIBILITY_TIMEOUT + 20,
        message=lambda: f"seed={SEED}: the task was not redelivered:\n{worker.text()[-3000:]}",
        every=0.02,
    )


def test_t04_payout_batch_survives_20_kills_with_nothing_duplicated_or_missed(workers: list[Worker], tmp_path: Path) -> None:
    sys.stdout.write(f"\nT4: seed={SEED} (replay with T4_SEED={SEED})\n")
    rng = random.Random(SEED)
    seeded = approved_bank_claims_seed(count=CLAIMS)
    approved_ids = set(RefundClaim.objects.filter(state=RefundClaim.State.APPROVED).values_list("pk", flat=True))
    assert len(approved_ids) == CLAIMS
    assert ledger_verify().ok
    build_seconds = _build_seconds()

    from refunds.tasks import payout_batches_build

    payout_batches_build.apply_async(kwargs={"force": True})
    assert broker_pending("payouts") == (1, 0)

    outcomes: Counter[str] = Counter()
    kills: list[str] = []
    deliveries = 0
    # Each next worker starts while the current one works, on a queue nobody publishes to, and is
    # switched to ``payouts`` the moment the current one is killed: the kill cycle is not start-up bound.
    standby = _worker("t4-00", tmp_path)
    workers.append(standby)
    for number in range(KILLS):
        worker = standby
        worker.wait_ready()
        worker.consume("payouts")
        last_one = number == KILLS - 1
        standby = _worker("t4-last" if last_one else f"t4-{number + 1:02d}", tmp_path, hold=not last_one)
        workers.append(standby)
        committed_before = PayoutBatch.objects.exists()
        # The message of the killed worker comes back (at once if Redis already put it back in the queue, else
        # once its visibility timeout has passed); the kill lands at a random point of the build's transaction.
        _wait_received(worker)
        deliveries += len(worker.received(TASK))
        _wait_build_started(worker, tmp_path)
        delay = rng.uniform(0.0, 1.0) * build_seconds
        time.sleep(delay)  # the random kill point; the hold before the commit keeps it inside the build
        held = checkpoint_reached(_checkpoints(tmp_path, worker.name), HELD_AT)
        in_transaction = _build_running()
        worker.kill()
        wait_until(_sessions_gone, timeout=30, message=f"seed={SEED}: the killed worker's transaction stayed open")
        committed = PayoutBatch.objects.exists()
        if committed_before:
            outcome = "after the batch had committed"
        elif committed:
            outcome = "at or after the commit"
        elif in_transaction:
            outcome = "inside the build's transaction"
        else:
            outcome = "before the build's transaction"
        outcomes[outcome] += 1
        kills.append(f"{delay:.2f}s:{'held-before-commit' if held else 'mid-build'}:{outcome.split()[0]}")

    last = standby
    last.wait_ready()
    last.consume("payouts")
    wait_until(
        lambda: PayoutBatch.objects.exists() and broker_pending("payouts") == (0, 0) and _sessions_gone(),
        timeout=120,
        message=lambda: f"seed={SEED}: the build did not finish:\n{last.text()[-3000:]}",
        every=0.2,
    )
    deliveries += len(last.received(TASK))
    last.stop()

    batches = list(PayoutBatch.objects.filter(method=PayoutBatch.Method.BANK).order_by("pk"))
    codes: list[int] = []
    trailer_total = 0
    records = {}
    for batch in batches:
        parsed = read_transfer_file(bytes(batch.file_content))
        assert parsed.trailer_count == len(parsed.records) == batch.payout_count
        assert parsed.trailer_total == batch.total_yen
        trailer_total += parsed.trailer_total
        for item in parsed.records:
            codes.append(item.record.customer_code_1)
            records[item.record.customer_code_1] = item.record
    payouts = {pk: (claim_id, amount) for pk, claim_id, amount in Payout.objects.values_list("pk", "claim_id", "amount_yen")}
    claims_in_files = Counter(payouts[code][0] for code in codes if code in payouts)
    unknown_codes = [code for code in codes if code not in payouts]
    duplicates = sum(n - 1 for n in Counter(codes).values() if n > 1) + sum(n - 1 for n in claims_in_files.values() if n > 1)
    missing = approved_ids - set(claims_in_files)
    amounts = dict(RefundClaim.objects.values_list("pk", "amount_yen"))
    details = {
        d.claim_id: d
        for d in BankDetails.objects.filter(superseded_at__isnull=True).only("claim_id", "account_number", "holder_name", "bank_code")
    }
    wrong = [
        code
        for code, record in records.items()
        if code in payouts
        and (
            record.amount_yen != amounts[payouts[code][0]]
            or payouts[code][1] != amounts[payouts[code][0]]
            or record.account_number != details[payouts[code][0]].account_number
            or record.recipient_name != details[payouts[code][0]].holder_name
        )
    ]
    states = Counter(RefundClaim.objects.values_list("state", flat=True))
    report = ledger_verify()
    in_build = outcomes["inside the build's transaction"]
    sys.stdout.write(
        f"T4: seed={SEED} claims={CLAIMS} kills={KILLS} ({', '.join(f'{n} {what}' for what, n in outcomes.items())}) "
        f"build_s≈{build_seconds:.1f} deliveries={deliveries} batches={len(batches)} payouts={len(payouts)} "
        f"records={len(codes)} duplicates={duplicates} missing={len(missing)} total_yen={trailer_total} "
        f"approved_yen={seeded.total_yen} ledger_ok={report.ok}\nT4: kills (delay after the build's lock:where:outcome) {' '.join(kills)}\n"
    )
    assert in_build == KILLS, f"seed={SEED}: every kill must land inside the build's transaction ({dict(outcomes)})"
    assert unknown_codes == [], f"seed={SEED}: customer codes naming no payout: {unknown_codes[:10]}"
    assert duplicates == 0, f"seed={SEED}"
    assert not missing, f"seed={SEED}: {len(missing)} claims missing, e.g. {sorted(missing)[:10]}"
    assert wrong == [], f"seed={SEED}: records that do not match their claim: {wrong[:10]}"
    assert len(codes) == len(payouts) == CLAIMS
    assert trailer_total == seeded.total_yen == sum(amount for _claim, amount in payouts.values())
    assert states == {RefundClaim.State.SCHEDULED: CLAIMS}
    assert set(Payout.objects.values_list("state", flat=True)) == {Payout.State.SCHEDULED}
    assert report.ok, "\n".join(report.lines())
