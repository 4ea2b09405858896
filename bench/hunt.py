"""The 7pay look-back hunt over ten million transactions, against a plain sequential scan.

1. Creates and migrates ``anzenpay_bench_hunt`` on DATABASE_URL's server and
   builds the history inside PostgreSQL (INSERT … SELECT generate_series,
   secondary indexes built after the load): ``--transactions`` (10,000,000)
   top-ups and store payments over 90 days for one customer per ten
   transactions, each with its ledger ``Transfer`` row, written in time order
   as the services would have. About 55 % are top-ups (¥1,000–¥30,000, card,
   store register or ATM), 45 % store payments (mostly under ¥5,000, 3 % of
   ¥10,000 or more). The hunt never reads ledger entries, so none are written.
2. Seeds one customer in a thousand with the 7pay pattern (three ¥30,000 card
   top-ups within a minute, then ¥45,000 and ¥40,000 at stores within two
   hours) and as many near misses of each threshold: a ¥9,999 top-up, a spend
   25 hours later, a ¥9,999 spend. They have no other traffic, so the hunt must
   find every victim and none of the near misses.
3. Times, alternately, the baseline ``SELECT sum(amount_yen)`` over both
   tables the hunt reads (``wallet_topup`` and ``wallet_payment``: every
   transaction once, PostgreSQL's parallel sequential scan) and the 7pay hunt
   started through ``hunt_start`` as a fraud analyst, its Celery task run on
   commit (eagerly, in this process) slice by slice to the end. Each is the
   median of its runs, after one untimed run of each to warm the cache.

``ratio`` = hunt_s / seqscan_s; target <= 3. BENCH_KEEP_DB=1 keeps the
database (some GB at the full size); otherwise it is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
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

BENCH_DB = bench_db_name("anzenpay_bench_hunt")
DAYS = 90
MERCHANTS = 200
REGISTERS = 1_000
ATMS = 100
SEED = 20190704
RUNS = 3
TARGET_RATIO = 3.0
# Rows per seeded customer: 3 top-ups + 2 payments per victim, 2 rows per near miss of each of 3 kinds.
SPECIAL_ROWS_PER_VICTIM = 5 + 3 * 2


def build_history(cursor: Any, transactions: int) -> dict[str, int]:
    victims = max(10, transactions // 10_000)
    normal = transactions - victims * SPECIAL_ROWS_PER_VICTIM
    users = max(100, normal // 10)
    v0, small_topup0, late0, small_spend0 = users, users + victims, users + 2 * victims, users + 3 * victims
    all_users = users + 4 * victims
    start = f"(now() - interval '{DAYS + 1} days')"
    step = f"(interval '{DAYS} days' / {normal})"
    statements = [
        # Bulk load only: the append-only ledger triggers and foreign-key checks would run per row.
        "SET session_replication_role = replica",
        f"SELECT setseed({1 / SEED})",
        f"""INSERT INTO wallet_user (id, password, last_login, is_superuser, email, full_name, name_kana, phone, birth_date,
                email_verified_at, phone_verified_at, status, is_staff, is_active, date_joined, credentials_changed_at,
                must_reset_password, staff_enrollment_open_until, preferred_language)
            SELECT g, '!', NULL, false, 'hunt' || g || '@example.jp', 'Hunt ' || g, '', '+8190' || lpad(g::text, 8, '0'), NULL,
                now() - interval '200 days', now() - interval '200 days', 'active', false, true, now() - interval '200 days',
                now() - interval '200 days', false, NULL, 'ja'
            FROM generate_series(1, {all_users}) g""",
        f"""INSERT INTO wallet_merchant (id, name, code, is_active, created_at)
            SELECT m, 'Bench store ' || m, 'bench-' || m, true, now() - interval '300 days' FROM generate_series(1, {MERCHANTS}) m""",
        f"""INSERT INTO wallet_terminal (id, name, kind, key_prefix, key_digest, is_active, created_at, last_used_at, merchant_id)
            SELECT t, 'Terminal ' || t, CASE WHEN t > {REGISTERS} THEN 'atm' ELSE 'store_register' END, 'bh' || t,
                encode(sha256(('terminal' || t)::bytea), 'hex'), true, now() - interval '300 days', NULL, ((t - 1) % {MERCHANTS}) + 1
            FROM generate_series(1, {REGISTERS + ATMS}) t""",
        f"""INSERT INTO wallet_card (id, gateway_token, brand, last4, exp_month, exp_year, funding, fingerprint, status, created_at,
                removed_at, user_id)
            SELECT g, 'tok_hunt_' || g, 'visa', lpad((g % 10000)::text, 4, '0'), 12, 2030,
                CASE WHEN g % 5 = 0 THEN 'debit' ELSE 'credit' END, encode(sha256(('card' || g)::bytea), 'hex'), 'active',
                now() - interval '150 days', NULL, g
            FROM generate_series(1, {all_users}) g""",
        # The normal traffic, in time order (ids grow with time as they do in production).
        f"""CREATE TEMP TABLE bench_event AS
            WITH g AS (SELECT g AS n, random() AS r0, random() AS r1, random() AS r2, random() AS r3 FROM generate_series(1, {normal}) g)
            SELECT n, 1 + floor(r0 * {users})::bigint AS user_id, r1 < 0.45 AS is_payment, {start} + (n - 1 + r3) * {step} AS at,
                CASE WHEN r1 < 0.45 THEN
                        CASE WHEN r2 < 0.97 THEN 100 + floor(r2 / 0.97 * 4900)::bigint
                            ELSE 10000 + floor((r2 - 0.97) / 0.03 * 20000)::bigint END
                    ELSE (ARRAY[1000, 1000, 2000, 3000, 3000, 5000, 5000, 10000, 20000, 30000])[1 + floor(r2 * 10)::int] END AS amount,
                CASE WHEN r1 < 0.45 THEN 'payment.store' WHEN r3 < 0.5 THEN 'charge.credit_card' WHEN r3 < 0.6 THEN 'charge.debit_card'
                    WHEN r3 < 0.85 THEN 'charge.store_register' ELSE 'charge.atm' END AS channel,
                1 + floor(r0 * 7919 + r2 * 104729)::bigint % {REGISTERS} AS terminal_id
            FROM g""",
        # The seeded customers: victims, then near misses of each threshold, each at its own moment of the period.
        f"""INSERT INTO bench_event (n, user_id, is_payment, at, amount, channel, terminal_id)
            WITH s AS (
                SELECT v, {start} + interval '1 day' + random() * interval '{DAYS - 3} days' AS t0 FROM generate_series(1, {victims}) v
            ), rows AS (
                SELECT {v0} + v AS user_id, false AS p, t0 AS at, 30000 AS amount, 'charge.credit_card' AS channel FROM s
                UNION ALL SELECT {v0} + v, false, t0 + interval '20 seconds', 30000, 'charge.credit_card' FROM s
                UNION ALL SELECT {v0} + v, false, t0 + interval '40 seconds', 30000, 'charge.credit_card' FROM s
                UNION ALL SELECT {v0} + v, true, t0 + interval '1 hour', 45000, 'payment.store' FROM s
                UNION ALL SELECT {v0} + v, true, t0 + interval '2 hours', 40000, 'payment.store' FROM s
                UNION ALL SELECT {small_topup0} + v, false, t0, 9999, 'charge.credit_card' FROM s
                UNION ALL SELECT {small_topup0} + v, true, t0 + interval '1 hour', 15000, 'payment.store' FROM s
                UNION ALL SELECT {late0} + v, false, t0, 30000, 'charge.credit_card' FROM s
                UNION ALL SELECT {late0} + v, true, t0 + interval '25 hours', 20000, 'payment.store' FROM s
                UNION ALL SELECT {small_spend0} + v, false, t0, 30000, 'charge.credit_card' FROM s
                UNION ALL SELECT {small_spend0} + v, true, t0 + interval '1 hour', 9999, 'payment.store' FROM s
            )
            SELECT {normal} + row_number() OVER (ORDER BY at, user_id), user_id, p, at, amount, channel, 1 + (user_id % {REGISTERS})
            FROM rows""",
        """INSERT INTO wallet_transfer (id, public_id, kind, idempotency_key, description, created_at, created_by_id, reverses_id)
            SELECT n, gen_random_uuid(), CASE WHEN is_payment THEN 'payment' ELSE 'topup' END, 'bench:' || n, '', at, NULL, NULL
            FROM bench_event ORDER BY n""",
        """INSERT INTO wallet_topup (id, public_id, request_key, channel, amount_yen, status, failure_code, gateway_charge_id, created_at,
                completed_at, card_id, risk_decision_id, terminal_id, user_id, release_transfer_id, transfer_id)
            SELECT n, gen_random_uuid(), 'bench:' || n, channel, amount, 'succeeded', '',
                CASE WHEN channel LIKE '%card' THEN 'ch_bench_' || n ELSE '' END, at, at,
                CASE WHEN channel LIKE '%card' THEN user_id END, NULL,
                CASE WHEN channel = 'charge.atm' THEN """
        + str(REGISTERS)
        + """ + 1 + terminal_id % """
        + str(ATMS)
        + """ WHEN channel = 'charge.store_register' THEN terminal_id END,
                user_id, NULL, n
            FROM bench_event WHERE NOT is_payment ORDER BY n""",
        f"""INSERT INTO wallet_payment (id, public_id, amount_yen, refunded_yen, status, description, created_at, merchant_id, user_id,
                risk_decision_id, terminal_id, transfer_id)
            SELECT n, gen_random_uuid(), amount, 0, 'succeeded', '', at, ((terminal_id - 1) % {MERCHANTS}) + 1, user_id, NULL,
                terminal_id, n
            FROM bench_event WHERE is_payment ORDER BY n""",
        "DROP TABLE bench_event",
        "SET session_replication_role = DEFAULT",
    ]
    with indexes_deferred(cursor, ["wallet_user", "wallet_card", "wallet_transfer", "wallet_topup", "wallet_payment"]):
        for statement in statements:
            cursor.execute(statement)
    for table in ("wallet_user", "wallet_merchant", "wallet_terminal", "wallet_card", "wallet_transfer", "wallet_topup", "wallet_payment"):
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return {"users": users, "victims": victims, "v0": v0, "near0": small_topup0, "near_end": all_users}


def seqscan_seconds(cursor: Any) -> float:
    """The baseline: every transaction the hunt reads, summed by a plain (parallel) sequential scan."""
    began = time.perf_counter()
    for table in ("wallet_topup", "wallet_payment"):
        cursor.execute(f"SELECT sum(amount_yen) FROM {table}")
        cursor.fetchone()
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--transactions", type=int, default=int(os.environ.get("BENCH_HUNT_TRANSACTIONS", "10000000")), help="top-ups and payments to build"
    )
    args = parser.parse_args()
    if args.transactions < 10_000:
        parser.error("--transactions must be at least 10000")
    base_url = os.environ.get("DATABASE_URL", "")
    say(f"bench/hunt: the 7pay hunt over {args.transactions:,} transactions ({DAYS} days) against a sequential scan; database {BENCH_DB}")
    bench_database_create(BENCH_DB)
    django_setup()
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from backoffice.models import Hunt, HuntHit
    from backoffice.services.hunts import hunt_start
    from wallet.models import Payment, TopUp, User

    started = time.perf_counter()
    with stopwatch("migrate"):
        migrate()
    with stopwatch("history (INSERT … SELECT, indexes after)"), transaction.atomic(), connection.cursor() as cursor:
        seeded = build_history(cursor, args.transactions)
    with stopwatch("VACUUM ANALYZE"), connection.cursor() as cursor:
        for table in ("wallet_user", "wallet_transfer", "wallet_topup", "wallet_payment"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    build_seconds = time.perf_counter() - started
    topups, payments = TopUp.objects.count(), Payment.objects.count()
    transactions = topups + payments
    say(
        f"  {transactions:,} transactions ({topups:,} top-ups, {payments:,} payments) for {seeded['users']:,} customers, "
        f"{seeded['victims']:,} seeded victims and {3 * seeded['victims']:,} near misses; built in {build_seconds:.0f} s"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('wallet_topup') + pg_total_relation_size('wallet_payment'))")
        say(f"  wallet_topup + wallet_payment with indexes: {cursor.fetchone()[0]}")

    analyst = User.objects.create_user("hunt-bench@anzen.example", None, full_name="Bench analyst", is_staff=True)
    analyst.groups.add(Group.objects.get(name="fraud_analyst"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(created_at), max(created_at) FROM wallet_payment")
        first, last = cursor.fetchone()
    period_start, period_end = first - timedelta(days=1), last + timedelta(seconds=1)

    scans: list[float] = []
    hunts: list[tuple[float, Hunt]] = []
    with connection.cursor() as cursor:
        # Warm-up, untimed: one scan and one hunt, so both start from the same cache (the
        # scan reads the heaps, the hunt also the indexes it probes).
        seqscan_seconds(cursor)
        hunt_start(rule_kind="topup_then_spend", params={}, period_start=period_start, period_end=period_end, acting_user=analyst)
        for _run in range(RUNS):
            scans.append(seqscan_seconds(cursor))
            began = time.perf_counter()
            hunt = hunt_start(
                rule_kind="topup_then_spend", params={}, period_start=period_start, period_end=period_end, acting_user=analyst
            )
            elapsed = time.perf_counter() - began
            hunt.refresh_from_db()
            if hunt.state != Hunt.State.DONE:
                say(f"  hunt #{hunt.pk} ended {hunt.state}: {hunt.error}")
                return 1
            hunts.append((elapsed, hunt))
            say(f"  run {_run + 1}: seqscan {scans[-1]:.2f} s, hunt {elapsed:.2f} s ({hunt.steps_total} slices)")

    hunt_s, seqscan_s = statistics.median(t for t, _h in hunts), statistics.median(scans)
    hunt = hunts[-1][1]
    hit_users = set(HuntHit.objects.filter(hunt=hunt).values_list("customer_id", flat=True))
    victims = set(range(seeded["v0"] + 1, seeded["v0"] + seeded["victims"] + 1))
    near = {user_id for user_id in hit_users if seeded["near0"] < user_id <= seeded["near_end"]}
    found = len(victims & hit_users)
    say(f"  hunt #{hunt.pk}: {hunt.customers_count:,} customers, ¥{hunt.damage_yen:,}, {hunt.transactions_count:,} transactions")
    say(f"  seeded victims found {found:,} of {len(victims):,}; near misses flagged {len(near):,} (must be 0)")
    say(f"  thresholds: { ({k: v for k, v in hunt.params.items() if not k.startswith('_')}) }")
    say(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    connection.close()
    if os.environ.get("BENCH_KEEP_DB") != "1":
        _maintenance_execute(base_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    ratio = hunt_s / seqscan_s if seqscan_s else 0.0
    print_result(
        transactions=transactions,
        hunt_s=hunt_s,
        seqscan_s=seqscan_s,
        ratio=ratio,
        hits=hunt.customers_count,
        target_ratio=TARGET_RATIO,
        victims_found=found,
        victims=len(victims),
        near_miss_hits=len(near),
        damage_yen=hunt.damage_yen,
        slices=hunt.steps_total,
        build_s=build_seconds,
    )
    return 0 if found == len(victims) and not near else 1


if __name__ == "__main__":
    sys.exit(main())
