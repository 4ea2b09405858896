"""A payout batch of 120,000 approved claims through the real build, against bare SQL.

What it does, all in one run on the DATABASE_URL server:

1. Creates and migrates its own database (``anzenpay_bench_payouts``) and builds
   ``--claims`` approved bank claims (120,000) inside PostgreSQL with the seeder the
   tests use (tests/refunds/seeding.py: customers with kana names, wallets funded and
   emptied by the claim through balanced transfers, current Zengin bank details).
   ``ledger_check``'s proof runs before and after.
2. ``batch_s``: ``payout_batch_build(method="bank")``, the service the scheduled
   task calls, timed from the call to its commit in this process (bank master loaded
   cold, as in a fresh worker): lock, re-checks, one payout per claim, claims
   scheduled with their history, the 総合振込 file written, hashed and stored, the
   audit row. The time of each step is printed (the bench wraps the build module's
   steps with timers; nothing else changes). Target: <= 60 s.
3. ``file_payouts_per_s``: the file-writing step alone, from the database rows to the
   bytes (the build's own ``batch_file_write``: the payouts joined to their bank details read
   through a server-side cursor, a ``TransferRecord`` each, the Zengin writer), on the
   batch just built; it must reproduce the stored file byte for byte. Target: >= 10,000.
   ``--out PATH`` writes the stored file there.
4. Baselines, same data, same run:
   - ``sql_insert_s``: one bare ``INSERT … SELECT`` writing the same payout rows (claim
     joined to its current details) into an identical table; ``batch_ratio`` =
     batch_s / sql_insert_s.
   - ``copy_payouts_per_s``: ``COPY (SELECT …) TO STDOUT`` of the same columns the
     file is written from; ``file_ratio`` = file_payouts_per_s / copy_payouts_per_s.
5. Checks: the file parses (``read_transfer_file``), holds every claim exactly once
   (customer code 1 = payout id), and its trailer total equals the approved total.

Last line: ``RESULT claims=… batch_s=… file_payouts_per_s=… sql_insert_s=… batch_ratio=…
copy_payouts_per_s=… file_ratio=…``. BENCH_KEEP_DB=1 (or ``--keep-db``) keeps the database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    _maintenance_execute,
    bench_database_create,
    bench_db_name,
    django_setup,
    indexes_deferred,
    migrate,
    print_result,
    say,
    stopwatch,
)

BENCH_DB = bench_db_name("anzenpay_bench_payouts")
BASELINE_TABLE = "bench_payout_baseline"
TARGET_BATCH_S = 60.0
TARGET_FILE_PER_S = 10_000
# The build's steps, timed separately (refunds/services/payouts/build.py).
STEPS = (
    "zengin_originator",
    "_advisory_lock",
    "_hold_at_batch_time",
    "_lock_approved",
    "_insert_payouts",
    "_schedule_claims",
    "batch_file_write",
    "staff_action_record",
)
# The columns the file is written from (build._bank_records), for the COPY baseline.
FILE_COLUMNS_SQL = """
    SELECT p.id, p.claim_id, p.amount_yen, p.new_code, d.bank_code, d.bank_name_kana, d.branch_code, d.branch_name_kana,
           d.account_type, d.account_number, d.holder_name
    FROM refunds_payout p JOIN refunds_bankdetails d ON d.id = p.bank_details_id
    WHERE p.batch_id = {batch} ORDER BY p.id
"""


@contextmanager
def steps_timed(module: Any, names: tuple[str, ...]) -> Iterator[dict[str, float]]:
    """Wrap ``module``'s functions ``names`` with timers for the duration of the block (this process only)."""
    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(module, name) for name in names}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - began

        return wrapper

    for name, function in originals.items():
        setattr(module, name, timed(name, function))
    try:
        yield spent
    finally:
        for name, function in originals.items():
            setattr(module, name, function)


def seed(claims: int) -> Any:
    from django.db import connection

    from tests.refunds.seeding import SEEDED_TABLES, approved_bank_claims_seed

    tables = [*SEEDED_TABLES, "refunds_claimevent"]
    label = f"seed {claims:,} approved bank claims (INSERT … SELECT generate_series, indexes after)"
    with stopwatch(label), connection.cursor() as cursor, indexes_deferred(cursor, tables):
        seeded = approved_bank_claims_seed(count=claims, prefix="bench", triggers=False, analyze=False)
    with stopwatch("VACUUM ANALYZE"), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    return seeded


def ledger_ok(label: str) -> bool:
    from wallet.services.ledger_audit import ledger_verify

    report = ledger_verify()
    say(f"  ledger_check {label}: {'OK' if report.ok else 'BROKEN'} ({report.counts['transfers']:,} transfers, {report.seconds:.1f} s)")
    if not report.ok:
        for line in report.lines():
            say("    " + line)
    return report.ok


def checkpoint() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


class SlowestStatements:
    """A connection execute wrapper keeping each statement's time, to name the slow ones."""

    def __init__(self) -> None:
        self.timings: list[tuple[float, str]] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.timings.append((time.perf_counter() - began, " ".join(sql.split())[:90]))

    def top(self, count: int) -> list[tuple[float, str]]:
        return sorted(self.timings, reverse=True)[:count]


def run_build() -> tuple[Any, float, dict[str, float], SlowestStatements]:
    """The real build, timed, with the time of each of its steps and of its slowest statements."""
    from django.db import connection

    from refunds.models import PayoutBatch
    from refunds.services.payouts import build, default_transfer_date, payout_batch_build

    day = default_transfer_date()
    checkpoint()
    statements = SlowestStatements()
    with steps_timed(build, STEPS) as spent, connection.execute_wrapper(statements):
        began = time.perf_counter()
        batch = payout_batch_build(method=PayoutBatch.Method.BANK, transfer_date=day, task_id="bench")
        seconds = time.perf_counter() - began
    if batch is None:
        raise SystemExit("the build found no approved claim")
    return batch, seconds, dict(spent), statements


def run_file_step(batch: Any) -> tuple[bytes, float]:
    """The build's file-writing step alone: payout rows → records → bytes, in a transaction as in the build."""
    from django.db import transaction

    from refunds.services.payouts import files

    originator = files.zengin_originator()  # warm: the build already loaded the bank master
    line_ending = files.zengin_line_ending()
    with transaction.atomic():
        began = time.perf_counter()
        content, _count, _total = files.batch_file_write(batch, originator, line_ending)
        seconds = time.perf_counter() - began
    return content, seconds


def run_sql_insert(batch_id: int) -> float:
    """The bare INSERT … SELECT of the same payout rows (claims joined to their current details) into an identical table."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {BASELINE_TABLE} (LIKE refunds_payout INCLUDING ALL)")
    checkpoint()
    with transaction.atomic(), connection.cursor() as cursor:
        began = time.perf_counter()
        cursor.execute(
            f"""
            INSERT INTO {BASELINE_TABLE} (batch_id, claim_id, bank_details_id, postal_details_id, amount_yen, new_code, state,
                result_reason, created_at)
            SELECT %s, c.id, d.id, NULL, c.amount_yen, 1, 'scheduled', '', now()
            FROM refunds_refundclaim c JOIN refunds_bankdetails d ON d.claim_id = c.id AND d.superseded_at IS NULL
            WHERE c.state = 'scheduled' AND c.method = 'bank' ORDER BY c.id
            """,
            [batch_id],
        )
        rows = cursor.rowcount
    seconds = time.perf_counter() - began  # the commit included
    say(f"  baseline: bare INSERT … SELECT of {rows:,} payout rows into an identical table: {seconds:.2f} s")
    return seconds


def run_copy(batch_id: int) -> float:
    """COPY (SELECT …) TO STDOUT of the columns the file is written from, read to the end."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    size = 0
    began = time.perf_counter()
    with raw.cursor() as cursor, cursor.copy(f"COPY ({FILE_COLUMNS_SQL.format(batch=int(batch_id))}) TO STDOUT") as copy:
        for chunk in copy:
            size += len(chunk)
    seconds = time.perf_counter() - began
    say(f"  baseline: COPY (SELECT …) TO STDOUT of the same columns: {size / 1e6:.1f} MB in {seconds:.2f} s")
    return seconds


def check_file(content: bytes, claims: int, total_yen: int) -> tuple[int, int]:
    """(duplicates, missing) of claims in the file, after checking it parses and its trailer adds up."""
    from refunds.models import Payout, RefundClaim
    from refunds.zengin.transfer_file import read_transfer_file

    parsed = read_transfer_file(content)
    codes = Counter(item.record.customer_code_1 for item in parsed.records)
    claim_of = dict(Payout.objects.values_list("pk", "claim_id"))
    in_file = Counter(claim_of.get(code) for code in codes.elements())
    duplicates = sum(n - 1 for n in in_file.values() if n > 1)
    missing = len(set(RefundClaim.objects.values_list("pk", flat=True)) - set(in_file))
    say(
        f"  file: {len(parsed.records):,} records, trailer {parsed.trailer_count:,} / ¥{parsed.trailer_total:,} "
        f"(approved ¥{total_yen:,}); {duplicates} duplicate, {missing} missing claims"
    )
    if parsed.trailer_count != claims or parsed.trailer_total != total_yen or None in in_file:
        raise SystemExit("the file does not hold the approved claims")
    return duplicates, missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--claims", type=int, default=120_000, help="approved bank claims to pay (default 120,000)")
    parser.add_argument("--out", type=Path, help="write the batch's 総合振込 file here")
    parser.add_argument("--keep-db", action="store_true", default=os.environ.get("BENCH_KEEP_DB") == "1")
    args = parser.parse_args()
    if args.claims < 1:
        parser.error("--claims must be positive")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        say("bench/payouts.py needs DATABASE_URL (PostgreSQL); run it with `make bench`.")
        return 2
    base_url = os.environ["DATABASE_URL"]
    say(f"bench/payouts: a payout batch of {args.claims:,} approved bank claims; database {BENCH_DB}; {os.cpu_count()} CPUs")
    bench_database_create(BENCH_DB)
    django_setup()
    from django.db import connection

    from refunds.models import Payout, PayoutBatch, RefundClaim

    with stopwatch("migrate"):
        migrate()
    seeded = seed(args.claims)
    ok_before = ledger_ok("before")

    batch, batch_s, spent, statements = run_build()
    size = len(batch.file_content)
    say(f"  build: batch #{batch.pk}, {batch.payout_count:,} payouts, ¥{batch.total_yen:,}, {size:,} bytes in {batch_s:.2f} s")
    inside = sum(spent.values())
    for name in STEPS:
        if name in spent:
            say(f"    {name:<22} {spent[name]:7.2f} s")
    say(f"    {'the rest':<22} {batch_s - inside:7.2f} s (batch row with its file, file sums, commit)")
    say(f"  slowest statements of the build ({len(statements.timings)} in all):")
    for seconds, sql in statements.top(6):
        say(f"    {seconds:6.2f} s  {sql}")
    scheduled = RefundClaim.objects.filter(state=RefundClaim.State.SCHEDULED).count()
    if scheduled != args.claims or Payout.objects.count() != args.claims or PayoutBatch.objects.count() != 1:
        raise SystemExit(f"the build scheduled {scheduled:,} claims; expected {args.claims:,}")

    stored = bytes(batch.file_content)
    content, file_seconds = run_file_step(batch)
    file_payouts_per_s = batch.payout_count / file_seconds
    say(f"  file step alone: {batch.payout_count:,} payouts to {len(content):,} bytes in {file_seconds:.2f} s")
    if content != stored:
        raise SystemExit("the file step did not reproduce the stored file")
    if args.out:
        args.out.write_bytes(stored)
        say(f"  wrote {args.out} (SHA-256 {batch.file_sha256})")
    duplicates, missing = check_file(stored, args.claims, seeded.total_yen)

    sql_insert_s = run_sql_insert(batch.pk)
    copy_seconds = run_copy(batch.pk)
    copy_payouts_per_s = batch.payout_count / copy_seconds
    ok_after = ledger_ok("after")
    batch_ratio = batch_s / sql_insert_s
    file_ratio = file_payouts_per_s / copy_payouts_per_s
    say(
        f"  batch_s {batch_s:.1f} (target <= {TARGET_BATCH_S:.0f}) = {batch_ratio:.1f} × the bare INSERT; "
        f"file {file_payouts_per_s:,.0f} payouts/s (target >= {TARGET_FILE_PER_S:,}) "
        f"= {file_ratio:.2f} × COPY ({copy_payouts_per_s:,.0f}/s)"
    )
    connection.close()
    if not args.keep_db:
        _maintenance_execute(base_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    print_result(
        claims=args.claims,
        batch_s=batch_s,
        file_payouts_per_s=round(file_payouts_per_s),
        sql_insert_s=sql_insert_s,
        batch_ratio=batch_ratio,
        copy_payouts_per_s=round(copy_payouts_per_s),
        file_ratio=file_ratio,
    )
    return 0 if ok_before and ok_after and duplicates == 0 and missing == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
