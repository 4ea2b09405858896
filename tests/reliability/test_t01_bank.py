"""T1, the bank test: 1,000 wallets, 64 threads (38 in the suite: its connection budget) moving money between random
wallets through ``transfer_post`` while reading the total.

Pass: every read of the total (one SQL sum) equals the start; no wallet goes
negative; every transfer sums to zero and every cached balance equals the sum
of its entries (``ledger_verify``). Refusals for insufficient funds are
expected and counted; anything else (a deadlock, a constraint error) fails.

The suite runs 64 x 150 transfers; ``T1_TRANSFERS=100000`` runs the full
scenario of SECURITY.md.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.db import connection

from tests.helpers import connections_for_threads
from wallet.models import LedgerAccount, Transfer, User
from wallet.services.ledger import InsufficientFunds, Leg, system_account, transfer_post
from wallet.services.ledger_audit import ledger_verify

WALLETS = 1_000
START_YEN = 1_000
THREADS = 64  # asked for; the connection budget (tests/helpers.py) runs 38 of them at most
TRANSFERS = int(os.environ.get("T1_TRANSFERS", str(THREADS * 150)))
READ_EVERY = 4  # one read of the total per this many transfers
SEED = int(os.environ.get("T1_SEED", "20260101"))

TOTAL_SQL = "SELECT coalesce(sum(balance_yen), 0) FROM wallet_ledgeraccount WHERE kind = 'customer_wallet'"


@dataclass
class ThreadResult:
    outcomes: Counter[str] = field(default_factory=Counter)
    totals_read: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_total() -> int:
    with connection.cursor() as cursor:
        cursor.execute(TOTAL_SQL)
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def make_wallets(count: int) -> list[LedgerAccount]:
    """Customers without passwords (hashing 1,000 would dominate the test) and wallets
    funded by real top-up transfers, so the ledger holds from the start."""
    run = uuid.uuid4().hex[:6]
    users = User.objects.bulk_create([User(email=f"t1-{run}-{i}@example.jp", password="!", full_name=f"T1 {i}") for i in range(count)])
    wallets = LedgerAccount.objects.bulk_create(
        [LedgerAccount(kind=LedgerAccount.Kind.CUSTOMER_WALLET, code=f"wallet:{u.pk}", owner=u, balance_yen=0) for u in users]
    )
    clearing = system_account("card_clearing")
    for start in range(0, count, 250):
        batch = wallets[start : start + 250]
        transfer_post(
            kind=Transfer.Kind.TOPUP,
            legs=[Leg(clearing, -START_YEN * len(batch)), *(Leg(w, START_YEN) for w in batch)],
            idempotency_key=f"t1-seed:{run}:{start}",
        )
    return list(LedgerAccount.objects.filter(pk__in=[w.pk for w in wallets]).order_by("pk"))


def worker(index: int, wallets: list[LedgerAccount], transfers: int, start: threading.Barrier, result: ThreadResult) -> None:
    rng = random.Random(SEED * 1_000 + index)
    try:
        start.wait()
        for n in range(transfers):
            source, target = rng.sample(wallets, 2)
            amount = rng.randint(1, START_YEN * 3 // 2)  # sometimes more than the source holds
            try:
                transfer_post(
                    kind=Transfer.Kind.ADJUSTMENT,
                    legs=[Leg(source, -amount), Leg(target, amount)],
                    idempotency_key=f"t1:{index}:{n}",
                    description="T1 bank test",
                )
                result.outcomes["posted"] += 1
            except InsufficientFunds:
                result.outcomes["insufficient_funds"] += 1
            except Exception as exc:  # anything else is a finding, reported with the others
                result.errors.append(f"{type(exc).__name__}: {exc}")
            if n % READ_EVERY == 0:
                result.totals_read.append(read_total())
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_t01_bank_total_constant_no_negative_every_transfer_balanced() -> None:
    wallets = make_wallets(WALLETS)
    start_total = read_total()
    assert start_total == WALLETS * START_YEN

    # Within the connection budget (tests/helpers.py), and fewer when another suite uses the server.
    threads = connections_for_threads(THREADS)
    per_thread, extra = divmod(TRANSFERS, threads)
    barrier = threading.Barrier(threads)
    results = [ThreadResult() for _ in range(threads)]
    pool = [
        threading.Thread(target=worker, args=(i, wallets, per_thread + (1 if i < extra else 0), barrier, results[i]))
        for i in range(threads)
    ]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - began

    outcomes: Counter[str] = Counter()
    for result in results:
        outcomes.update(result.outcomes)
    reads = [total for result in results for total in result.totals_read]
    errors = [error for result in results for error in result.errors]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wallet_ledgeraccount WHERE kind = 'customer_wallet' AND balance_yen < 0")
        negative = int(cursor.fetchone()[0])  # type: ignore[index]
    report = ledger_verify()
    wrong_reads = sum(1 for total in reads if total != start_total)
    print(
        f"\nT1: {threads} threads, {TRANSFERS:,} transfers in {seconds:.1f} s ({TRANSFERS / seconds:,.0f}/s, seed {SEED}): "
        f"{outcomes['posted']:,} posted, {outcomes['insufficient_funds']:,} refused for funds, {len(errors)} errors; "
        f"{len(reads):,} reads of the total, {wrong_reads} wrong; {negative} negative wallets; "
        f"ledger_verify: {report.violations} violations, drift {report.drift} ({report.seconds:.2f} s)"
    )

    assert errors == []
    assert outcomes["posted"] + outcomes["insufficient_funds"] == TRANSFERS
    assert outcomes["posted"] > TRANSFERS // 4, "the test should move money, not only be refused"
    assert wrong_reads == 0
    assert read_total() == start_total
    assert negative == 0
    assert report.ok, "\n".join(report.lines())
    assert Transfer.objects.filter(kind=Transfer.Kind.ADJUSTMENT).count() == outcomes["posted"]
