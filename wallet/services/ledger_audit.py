"""Proof that the ledger holds its invariants, in set-based SQL.

Each check is one query that returns the offending ids, so it stays a few
sequential scans and hash joins on a ledger of millions of rows instead of one
query per account. The whole audit reads one snapshot (REPEATABLE READ, read
only) when it owns its transaction, so live traffic during ``ledger_check``
cannot produce a false alarm from a half-seen transfer.

The triggers of migration 0004 already refuse unbalanced transfers and edits;
this audit is the independent second line: it catches a disabled trigger, a
restore from a bad dump, a hand-written UPDATE of a cached balance, or a
service that wrote a payment row without its money.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

SAMPLE_SIZE = 20

# name, what it proves, what is counted as checked, SQL returning offending ids.
CHECKS: list[tuple[str, str, str, str]] = [
    (
        "transfer_unbalanced",
        "every transfer's entries sum to zero and it has at least two",
        "transfers",
        """
        SELECT transfer_id FROM wallet_entry
        GROUP BY transfer_id
        HAVING sum(amount_yen) <> 0 OR count(*) < 2
        """,
    ),
    (
        "transfer_without_entries",
        "no transfer without entries",
        "transfers",
        """
        SELECT t.id FROM wallet_transfer t
        WHERE NOT EXISTS (SELECT 1 FROM wallet_entry e WHERE e.transfer_id = t.id)
        """,
    ),
    (
        "wallet_cache_mismatch",
        "every wallet's cached balance equals the sum of its entries",
        "wallets",
        """
        SELECT a.id FROM wallet_ledgeraccount a
        LEFT JOIN (SELECT account_id, sum(amount_yen) AS total FROM wallet_entry GROUP BY account_id) s ON s.account_id = a.id
        WHERE a.kind = 'customer_wallet' AND a.balance_yen IS DISTINCT FROM coalesce(s.total, 0)
        """,
    ),
    (
        "wallet_negative",
        "no wallet is negative (cached or by its entries)",
        "wallets",
        """
        SELECT a.id FROM wallet_ledgeraccount a
        LEFT JOIN (SELECT account_id, sum(amount_yen) AS total FROM wallet_entry GROUP BY account_id) s ON s.account_id = a.id
        WHERE a.kind = 'customer_wallet' AND (a.balance_yen < 0 OR coalesce(s.total, 0) < 0)
        """,
    ),
    (
        "system_account_cached_balance",
        "no system account carries a cached balance or an owner",
        "system_accounts",
        """
        SELECT id FROM wallet_ledgeraccount
        WHERE kind <> 'customer_wallet' AND (balance_yen IS NOT NULL OR owner_id IS NOT NULL)
        """,
    ),
    (
        "reversal_mismatch",
        "a reversal negates its original transfer account by account",
        "reversals",
        """
        SELECT r.id FROM wallet_transfer r
        WHERE r.reverses_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM wallet_entry e WHERE e.transfer_id IN (r.id, r.reverses_id)
            GROUP BY e.account_id HAVING sum(e.amount_yen) <> 0
        )
        """,
    ),
    (
        "topup_money_mismatch",
        "every succeeded top-up has its transfer, and it credited the customer's wallet with the top-up's amount",
        "succeeded_topups",
        # A held top-up is credited to the wallet by its release transfer, a direct one by its transfer.
        """
        SELECT t.id FROM wallet_topup t
        LEFT JOIN wallet_ledgeraccount w ON w.owner_id = t.user_id AND w.kind = 'customer_wallet'
        WHERE t.status = 'succeeded' AND (
            t.transfer_id IS NULL
            OR coalesce((SELECT sum(e.amount_yen) FROM wallet_entry e
                         WHERE e.transfer_id = coalesce(t.release_transfer_id, t.transfer_id) AND e.account_id = w.id), 0)
               <> t.amount_yen
        )
        """,
    ),
    (
        "payment_money_mismatch",
        "every payment debited the customer's wallet with its amount, and its refunded total matches its refunds and status",
        "payments",
        """
        SELECT p.id FROM wallet_payment p
        LEFT JOIN wallet_ledgeraccount w ON w.owner_id = p.user_id AND w.kind = 'customer_wallet'
        LEFT JOIN (SELECT payment_id, sum(amount_yen) AS total FROM wallet_paymentrefund GROUP BY payment_id) r ON r.payment_id = p.id
        WHERE coalesce((SELECT sum(e.amount_yen) FROM wallet_entry e WHERE e.transfer_id = p.transfer_id AND e.account_id = w.id), 0)
              <> -p.amount_yen
           OR p.refunded_yen <> coalesce(r.total, 0)
           OR p.status <> CASE WHEN p.refunded_yen = 0 THEN 'succeeded'
                               WHEN p.refunded_yen = p.amount_yen THEN 'refunded'
                               ELSE 'partially_refunded' END
        """,
    ),
    (
        "payment_refund_money_mismatch",
        "every store refund credited the paying customer's wallet with its amount",
        "payment_refunds",
        """
        SELECT r.id FROM wallet_paymentrefund r
        JOIN wallet_payment p ON p.id = r.payment_id
        LEFT JOIN wallet_ledgeraccount w ON w.owner_id = p.user_id AND w.kind = 'customer_wallet'
        WHERE coalesce((SELECT sum(e.amount_yen) FROM wallet_entry e WHERE e.transfer_id = r.transfer_id AND e.account_id = w.id), 0)
              <> r.amount_yen
        """,
    ),
]

COUNTS_SQL = """
SELECT
    (SELECT count(*) FROM wallet_transfer),
    (SELECT count(*) FROM wallet_entry),
    (SELECT count(*) FROM wallet_ledgeraccount WHERE kind = 'customer_wallet'),
    (SELECT count(*) FROM wallet_ledgeraccount WHERE kind <> 'customer_wallet'),
    (SELECT count(*) FROM wallet_transfer WHERE reverses_id IS NOT NULL),
    (SELECT count(*) FROM wallet_topup WHERE status = 'succeeded'),
    (SELECT count(*) FROM wallet_payment),
    (SELECT count(*) FROM wallet_paymentrefund)
"""
COUNT_NAMES = ["transfers", "entries", "wallets", "system_accounts", "reversals", "succeeded_topups", "payments", "payment_refunds"]

TOTALS_SQL = """
SELECT
    (SELECT coalesce(sum(balance_yen), 0) FROM wallet_ledgeraccount WHERE kind = 'customer_wallet'),
    (SELECT coalesce(sum(e.amount_yen), 0) FROM wallet_entry e JOIN wallet_ledgeraccount a ON a.id = e.account_id
     WHERE a.kind = 'customer_wallet'),
    (SELECT coalesce(sum(amount_yen), 0) FROM wallet_entry)
"""


@dataclass(frozen=True)
class CheckResult:
    name: str
    description: str
    checked: int
    violations: int
    sample_ids: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return self.violations == 0


@dataclass(frozen=True)
class LedgerReport:
    checks: tuple[CheckResult, ...]
    counts: dict[str, int]
    wallet_cached_total_yen: int
    wallet_entries_total_yen: int
    entries_total_yen: int
    seconds: float = field(compare=False)

    @property
    def violations(self) -> int:
        return sum(check.violations for check in self.checks)

    @property
    def drift(self) -> int:
        """Violations plus yen by which the wallets' cached balances and their entries disagree."""
        return self.violations + abs(self.wallet_cached_total_yen - self.wallet_entries_total_yen)

    @property
    def ok(self) -> bool:
        return self.violations == 0 and self.wallet_cached_total_yen == self.wallet_entries_total_yen and self.entries_total_yen == 0

    def failed(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.ok]

    def check(self, name: str) -> CheckResult:
        return next(check for check in self.checks if check.name == name)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{name}={value:,}" for name, value in self.counts.items())
        lines = [f"Checked {counts} in {self.seconds:.2f} s."]
        for check in self.checks:
            if check.ok:
                lines.append(f"  ok    {check.name}: {check.description} ({check.checked:,} checked)")
            else:
                ids = ", ".join(str(i) for i in check.sample_ids)
                more = " …" if check.violations > len(check.sample_ids) else ""
                lines.append(f"  FAIL  {check.name}: {check.violations:,} of {check.checked:,}; ids {ids}{more}")
        lines.append(
            f"Wallets: cached ¥{self.wallet_cached_total_yen:,}, by entries ¥{self.wallet_entries_total_yen:,}; "
            f"all entries sum to ¥{self.entries_total_yen:,}."
        )
        lines.append("Ledger OK." if self.ok else f"Ledger BROKEN: {self.violations:,} violation(s), drift {self.drift:,}.")
        return lines


def _one_row(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    assert row is not None  # an aggregate-only SELECT always returns one row
    return row


def _run(sample_size: int) -> LedgerReport:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(COUNTS_SQL)
        counts = dict(zip(COUNT_NAMES, (int(value) for value in _one_row(cursor.fetchone())), strict=True))
        results = []
        for name, description, counted, sql in CHECKS:
            # One pass returns both the total and the first ids.
            # The checks are constants of this module; nothing from outside reaches the SQL text.
            cursor.execute(f"SELECT bad.*, count(*) OVER () FROM ({sql}) AS bad ORDER BY 1 LIMIT %s", [sample_size])  # noqa: S608
            rows = cursor.fetchall()
            results.append(
                CheckResult(
                    name=name,
                    description=description,
                    checked=counts[counted],
                    violations=int(rows[0][1]) if rows else 0,
                    sample_ids=tuple(int(row[0]) for row in rows),
                )
            )
        cursor.execute(TOTALS_SQL)
        cached, by_entries, everything = (int(value) for value in _one_row(cursor.fetchone()))
    return LedgerReport(
        checks=tuple(results),
        counts=counts,
        wallet_cached_total_yen=cached,
        wallet_entries_total_yen=by_entries,
        entries_total_yen=everything,
        seconds=time.perf_counter() - started,
    )


def ledger_verify(*, sample_size: int = SAMPLE_SIZE) -> LedgerReport:
    """Run every check on one consistent snapshot and report (never raises on a violation)."""
    if connection.in_atomic_block:
        # Inside the caller's transaction (a test): read what it sees, including its uncommitted rows.
        return _run(sample_size)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return _run(sample_size)
