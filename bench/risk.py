"""Risk decisions against a million transactions of history.

1. Creates and migrates ``anzenpay_bench_risk`` on DATABASE_URL's server and
   builds the history inside PostgreSQL (INSERT … SELECT generate_series, ledger
   triggers off for the load only): BENCH_RISK_USERS customers (100,000) with a
   wallet, a card (every 50th card shared with another wallet), a device and a
   login; BENCH_RISK_TRANSACTIONS transfers (1,000,000) over 60 days, each a
   top-up or a store payment with its two ledger entries and its TopUp/Payment
   row. Some customers have a second device or a password change in the last day.
2. Loads the Redis counters from that history exactly as ``risk_record`` would
   have (last 31 days of top-ups and payments per customer, devices and
   addresses per customer).
3. Times BENCH_RISK_DECISIONS (5,000) ``risk_assess`` calls with the default
   rules for top-ups (card and cash) and payments of random customers, each in
   its own transaction like the money services, then ``risk_record``, after
   BENCH_RISK_WARMUP (300) untimed ones.

Baselines measured in the same run on the same inputs: ``insert`` is the
interim allow-everything body (only the RiskDecision INSERT), so the rules'
own cost is p99 - insert_p99; ``sql_window`` is the same windows read by
aggregating TopUp/Payment rows in SQL instead of Redis.

Target: p99 <= 5 ms. BENCH_KEEP_DB=1 keeps the database (it is dropped at the
next run anyway).
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_database_create,
    bench_db_name,
    django_setup,
    indexes_deferred,
    migrate,
    percentile,
    print_result,
    say,
    stopwatch,
)

USERS = int(os.environ.get("BENCH_RISK_USERS", "100000"))
TRANSACTIONS = int(os.environ.get("BENCH_RISK_TRANSACTIONS", "1000000"))
DECISIONS = int(os.environ.get("BENCH_RISK_DECISIONS", "5000"))
WARMUP = int(os.environ.get("BENCH_RISK_WARMUP", "300"))
MERCHANTS = 200
REGISTERS = 1_000
ATMS = 100
HISTORY_DAYS = 60
WALLET_ID_BASE = 1_000  # wallet of user n is ledger account 1000 + n
PAYABLE_ID_BASE = 500  # payable of merchant m is ledger account 500 + m
BENCH_DB = bench_db_name("anzenpay_bench_risk")
SEED = 20190701


def build_history(cursor: Any, clearing: dict[str, int]) -> None:
    users, n, history = USERS, TRANSACTIONS, f"interval '{HISTORY_DAYS} days'"
    statements = [
        # Bulk load only: the append-only and balanced-transfer triggers would run a SUM per entry.
        "SET session_replication_role = replica",
        f"SELECT setseed({1 / SEED})",
        f"""INSERT INTO wallet_user (id, password, last_login, is_superuser, email, full_name, name_kana, phone, birth_date,
                email_verified_at, phone_verified_at, status, is_staff, is_active, date_joined, credentials_changed_at,
                must_reset_password, staff_enrollment_open_until, preferred_language)
            SELECT g, '!', NULL, false, 'bench' || g || '@example.jp', 'Bench ' || g, '', '+8190' || lpad(g::text, 8, '0'), NULL,
                now() - interval '120 days', now() - interval '120 days', 'active', false, true, now() - interval '120 days',
                now() - interval '120 days', false, NULL, 'ja'
            FROM generate_series(1, {users}) g""",
        f"""INSERT INTO wallet_ledgeraccount (id, kind, code, balance_yen, created_at, owner_id)
            SELECT {WALLET_ID_BASE} + g, 'customer_wallet', 'wallet:' || g, 0, now() - interval '120 days', g
            FROM generate_series(1, {users}) g""",
        f"""INSERT INTO wallet_merchant (id, name, code, is_active, created_at)
            SELECT m, 'Bench store ' || m, 'bench-' || m, true, now() - interval '200 days' FROM generate_series(1, {MERCHANTS}) m""",
        f"""INSERT INTO wallet_ledgeraccount (id, kind, code, balance_yen, created_at, owner_id)
            SELECT {PAYABLE_ID_BASE} + m, 'merchant_payable', 'merchant_payable:' || m, NULL, now() - interval '200 days', NULL
            FROM generate_series(1, {MERCHANTS}) m""",
        f"""INSERT INTO wallet_terminal (id, name, kind, key_prefix, key_digest, is_active, created_at, last_used_at, merchant_id)
            SELECT t, 'Terminal ' || t, CASE WHEN t > {REGISTERS} THEN 'atm' ELSE 'store_register' END, 'bt' || t,
                encode(sha256(('terminal' || t)::bytea), 'hex'), true, now() - interval '200 days', NULL, ((t - 1) % {MERCHANTS}) + 1
            FROM generate_series(1, {REGISTERS + ATMS}) t""",
        f"""INSERT INTO wallet_card (id, gateway_token, brand, last4, exp_month, exp_year, funding, fingerprint, status, created_at,
                removed_at, user_id)
            SELECT g, 'tok_bench_' || g, 'visa', lpad((g % 10000)::text, 4, '0'), 12, 2030,
                CASE WHEN g % 5 = 0 THEN 'debit' ELSE 'credit' END,
                encode(sha256(('card' || CASE WHEN g % 50 = 0 THEN g - 1 ELSE g END)::bytea), 'hex'),
                'active', now() - interval '100 days', NULL, g
            FROM generate_series(1, {users}) g""",
        # Each customer's n-th event is a payment when n % 5 is 2 or 4: six top-ups of ¥5,000+ for every four payments
        # under ¥3,000, so every wallet ends positive whatever the order in time.
        f"""CREATE TEMP TABLE bench_event AS
            WITH g AS (
                SELECT g AS n, ((g - 1) % {users}) + 1 AS user_id, (((g - 1) / {users}) % 5) IN (2, 4) AS is_payment,
                    now() - random() * {history} AS at, random() AS r1, random() AS r2
                FROM generate_series(1, {n}) g
            )
            SELECT n, user_id, is_payment, at,
                CASE WHEN is_payment THEN 100 + floor(r1 * 2900)::bigint ELSE 5000 + floor(r1 * 25)::bigint * 1000 END AS amount,
                CASE WHEN is_payment THEN 'payment.store' WHEN r2 < 0.5 THEN 'charge.credit_card' WHEN r2 < 0.6 THEN 'charge.debit_card'
                    WHEN r2 < 0.85 THEN 'charge.store_register' ELSE 'charge.atm' END AS channel,
                CASE WHEN NOT is_payment AND r2 >= 0.85 THEN {REGISTERS} + 1 + floor(random() * {ATMS})::bigint
                    ELSE 1 + floor(random() * {REGISTERS})::bigint END AS terminal_id
            FROM g""",
        """INSERT INTO wallet_transfer (id, public_id, kind, idempotency_key, description, created_at, created_by_id, reverses_id)
            SELECT n, gen_random_uuid(), CASE WHEN is_payment THEN 'payment' ELSE 'topup' END, 'bench:' || n, '', at, NULL, NULL
            FROM bench_event""",
        f"""INSERT INTO wallet_entry (id, amount_yen, created_at, account_id, transfer_id)
            SELECT 2 * n - 1, CASE WHEN is_payment THEN -amount ELSE amount END, at, {WALLET_ID_BASE} + user_id, n FROM bench_event
            UNION ALL
            SELECT 2 * n, CASE WHEN is_payment THEN amount ELSE -amount END, at,
                CASE WHEN is_payment THEN {PAYABLE_ID_BASE} + ((terminal_id - 1) % {MERCHANTS}) + 1
                    WHEN channel LIKE '%card' THEN {clearing["card_clearing"]}
                    WHEN channel = 'charge.atm' THEN {clearing["atm_clearing"]} ELSE {clearing["cash_clearing"]} END,
                n
            FROM bench_event""",
        """INSERT INTO wallet_topup (id, public_id, request_key, channel, amount_yen, status, failure_code, gateway_charge_id, created_at,
                completed_at, card_id, risk_decision_id, terminal_id, user_id, release_transfer_id, transfer_id)
            SELECT n, gen_random_uuid(), 'bench:' || n, channel, amount, 'succeeded', '',
                CASE WHEN channel LIKE '%card' THEN 'ch_bench_' || n ELSE '' END, at, at,
                CASE WHEN channel LIKE '%card' THEN user_id END, NULL, CASE WHEN channel LIKE '%card' THEN NULL ELSE terminal_id END,
                user_id, NULL, n
            FROM bench_event WHERE NOT is_payment""",
        f"""INSERT INTO wallet_payment (id, public_id, amount_yen, refunded_yen, status, description, created_at, merchant_id, user_id,
                risk_decision_id, terminal_id, transfer_id)
            SELECT n, gen_random_uuid(), amount, 0, 'succeeded', '', at, ((terminal_id - 1) % {MERCHANTS}) + 1, user_id, NULL,
                terminal_id, n
            FROM bench_event WHERE is_payment""",
        f"""UPDATE wallet_ledgeraccount a SET balance_yen = s.total
            FROM (SELECT account_id, sum(amount_yen) AS total FROM wallet_entry WHERE account_id > {WALLET_ID_BASE} GROUP BY account_id) s
            WHERE a.id = s.account_id""",
        # A device per customer (1% share one between four), 20,000 addresses (carrier NAT), a login in the last 30 days;
        # 2% logged in from a second device in the last 20 hours, 1% changed their password.
        f"""INSERT INTO wallet_knowndevice (device_digest, label, first_seen_at, last_seen_at, last_ip, revoked_at, user_id)
            SELECT encode(sha256(CASE WHEN g % 400 < 4 THEN 'shared' || (g / 400) ELSE 'dev' || g END::bytea), 'hex'), 'bench',
                now() - interval '100 days', now() - random() * interval '30 days', '10.0.0.0'::inet + (g % 20000), NULL, g
            FROM generate_series(1, {users}) g""",
        f"""INSERT INTO wallet_knowndevice (device_digest, label, first_seen_at, last_seen_at, last_ip, revoked_at, user_id)
            SELECT encode(sha256(('new' || g)::bytea), 'hex'), 'bench new', now() - random() * interval '20 hours', now(),
                '10.0.0.0'::inet + (g % 20000), NULL, g
            FROM generate_series(1, {users}) g WHERE g % 50 = 7""",
        """INSERT INTO wallet_authevent (kind, claimed_identifier, ip, user_agent, channel, detail, created_at, user_id)
            SELECT 'login_succeeded', '', last_ip, 'bench', 'api', '{}', last_seen_at, user_id FROM wallet_knowndevice""",
        """INSERT INTO wallet_authevent (kind, claimed_identifier, ip, user_agent, channel, detail, created_at, user_id)
            SELECT 'new_device', '', last_ip, 'bench', 'api', '{}', first_seen_at, user_id
            FROM wallet_knowndevice WHERE label = 'bench new'""",
        f"""INSERT INTO wallet_authevent (kind, claimed_identifier, ip, user_agent, channel, detail, created_at, user_id)
            SELECT 'password_changed', '', '10.0.0.0'::inet + (g % 20000), 'bench', 'web', '{{}}', now() - random() * interval '20 hours', g
            FROM generate_series(1, {users}) g WHERE g % 100 = 11""",
        "SET session_replication_role = DEFAULT",
    ]
    with indexes_deferred(cursor, ["wallet_transfer", "wallet_entry", "wallet_topup", "wallet_payment", "wallet_authevent"]):
        for statement in statements:
            cursor.execute(statement)
    for table in ("wallet_user", "wallet_ledgeraccount", "wallet_merchant", "wallet_terminal", "wallet_card", "wallet_transfer",
                  "wallet_entry", "wallet_topup", "wallet_payment"):  # fmt: skip
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


def load_counters(connection: Any) -> int:
    """The windows as risk_record would have filled them while the history happened."""
    from wallet.services.risk.counters import RETENTION_SECONDS, Point, device_users_key, ip_users_key, user_series_key, window_store

    store = window_store()
    store.clear()
    now = time.time()
    loaded = 0
    queries = [
        (
            f"""SELECT user_id, CASE WHEN is_payment THEN 'payment' ELSE 'topup' END, 'h' || n, amount, channel, extract(epoch FROM at)
                FROM bench_event WHERE at > now() - interval '{RETENTION_SECONDS} seconds'""",
            lambda row: (user_series_key(row[0], row[1]), Point(row[2], int(row[3]), row[4], float(row[5]))),
        ),
        (
            "SELECT device_digest, user_id, extract(epoch FROM last_seen_at) FROM wallet_knowndevice",
            lambda row: (device_users_key(row[0]), Point(str(row[1]), 0, "", float(row[2]))),
        ),
        (
            "SELECT host(ip), user_id, extract(epoch FROM created_at) FROM wallet_authevent WHERE kind = 'login_succeeded'",
            lambda row: (ip_users_key(row[0]), Point(str(row[1]), 0, "", float(row[2]))),
        ),
    ]
    for sql, to_point in queries:
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql)
            while rows := cursor.fetchmany(20_000):
                store.add([to_point(row) for row in rows], now=now)
                loaded += len(rows)
    return loaded


def main() -> None:
    if USERS < DECISIONS + WARMUP:
        raise SystemExit(f"BENCH_RISK_USERS ({USERS:,}) must be at least BENCH_RISK_DECISIONS + BENCH_RISK_WARMUP ({DECISIONS + WARMUP:,})")
    random.seed(SEED)
    say(f"bench/risk: {TRANSACTIONS:,} transactions for {USERS:,} customers, then {DECISIONS:,} timed decisions")
    bench_database_create(BENCH_DB)
    django_setup()
    from django.db import connection, transaction
    from django.db.models import Count, Sum
    from django.utils import timezone

    from wallet.models import Card, KnownDevice, LedgerAccount, Payment, RiskDecision, RiskRule, TopUp, User
    from wallet.request_meta import RequestMeta
    from wallet.services.risk import risk_assess, risk_record, risk_rules_cache_clear

    started = time.perf_counter()
    with stopwatch("migrate"):
        migrate()
    clearing = dict(LedgerAccount.objects.filter(code__in=["card_clearing", "cash_clearing", "atm_clearing"]).values_list("code", "id"))
    with stopwatch("history (INSERT … SELECT)"), transaction.atomic(), connection.cursor() as cursor:
        build_history(cursor, clearing)
    with stopwatch("ANALYZE"), connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    with stopwatch("Redis counters"):
        points = load_counters(connection)
    build_seconds = time.perf_counter() - started
    say(f"  {points:,} counter points; rules: {RiskRule.objects.filter(enabled=True).count()} enabled")
    risk_rules_cache_clear()

    ids = random.sample(range(1, USERS + 1), DECISIONS + WARMUP)
    users = User.objects.in_bulk(ids)
    fingerprints = dict(Card.objects.filter(user_id__in=ids).values_list("user_id", "fingerprint"))
    devices = dict(KnownDevice.objects.filter(user_id__in=ids, label="bench").values_list("user_id", "device_digest"))
    addresses = dict(KnownDevice.objects.filter(user_id__in=ids, label="bench").values_list("user_id", "last_ip"))

    def inputs(user_id: int, index: int) -> dict[str, Any]:
        user = users[user_id]
        if index % 2 == 0:
            card = random.random() < 0.7
            return {
                "event": "topup",
                "user": user,
                "amount_yen": random.choice([1_000, 3_000, 5_000, 10_000, 20_000]),
                "channel": "charge.credit_card" if card else "charge.store_register",
                "meta": RequestMeta(ip=str(addresses[user_id]), user_agent="bench", channel="api"),
                "card_fingerprint": fingerprints[user_id] if card else "",
                "device_key": devices[user_id],
            }
        return {"event": "payment", "user": user, "amount_yen": random.randint(100, 15_000), "channel": "payment.store"}

    assess_ms: list[float] = []
    assess_cpu_ms: list[float] = []
    record_ms: list[float] = []
    insert_ms: list[float] = []
    sql_ms: list[float] = []
    for index, user_id in enumerate(ids):
        kwargs = inputs(user_id, index)
        with transaction.atomic():
            c0, t0 = time.thread_time(), time.perf_counter()
            decision = risk_assess(**kwargs)
            t1, c1 = time.perf_counter(), time.thread_time()
        if decision.outcome != "block":
            risk_record(decision=decision)
        t2 = time.perf_counter()
        # Baseline 1: the interim body, an INSERT and nothing else.
        with transaction.atomic():
            t3 = time.perf_counter()
            meta = kwargs.get("meta")
            RiskDecision.objects.create(
                event=kwargs["event"],
                outcome="allow",
                user=kwargs["user"],
                amount_yen=kwargs["amount_yen"],
                channel=kwargs["channel"],
                ip_address=meta.ip if meta else None,
            )
            t4 = time.perf_counter()
        # Baseline 2: the per-customer windows the default rules read, aggregated in SQL.
        now = timezone.now()
        t5 = time.perf_counter()
        TopUp.objects.filter(user_id=user_id, created_at__gt=now - timedelta(days=1)).aggregate(n=Count("id"), total=Sum("amount_yen"))
        Payment.objects.filter(user_id=user_id, created_at__gt=now - timedelta(minutes=10)).aggregate(n=Count("id"))
        t6 = time.perf_counter()
        if index >= WARMUP:
            assess_ms.append((t1 - t0) * 1000)
            assess_cpu_ms.append((c1 - c0) * 1000)
            record_ms.append((t2 - t1) * 1000)
            insert_ms.append((t4 - t3) * 1000)
            sql_ms.append((t6 - t5) * 1000)

    outcomes = {
        row["outcome"]: row["n"] for row in RiskDecision.objects.exclude(reasons=[]).values("outcome").annotate(n=Count("id")).order_by()
    }
    reviews = RiskDecision.objects.filter(outcome="review").count()
    blocks = RiskDecision.objects.filter(outcome="block").count()
    say(f"  outcomes with reasons: {outcomes}")
    say(
        f"  risk_assess p50 {percentile(assess_ms, 50):.3f} ms, p99 {percentile(assess_ms, 99):.3f} ms, "
        f"max {max(assess_ms):.3f} ms; risk_record p99 {percentile(record_ms, 99):.3f} ms"
    )
    say(f"  risk_assess CPU time in this process p50 {percentile(assess_cpu_ms, 50):.3f} ms, p99 {percentile(assess_cpu_ms, 99):.3f} ms")
    say(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (timings include waiting for them)")
    say(f"  baseline insert-only p99 {percentile(insert_ms, 99):.3f} ms; SQL windows p99 {percentile(sql_ms, 99):.3f} ms")
    if os.environ.get("BENCH_KEEP_DB") != "1":
        from wallet.services.risk.counters import window_store

        window_store().clear()
    print_result(
        decisions=len(assess_ms),
        p50_ms=percentile(assess_ms, 50),
        p99_ms=percentile(assess_ms, 99),
        max_ms=max(assess_ms),
        cpu_p50_ms=percentile(assess_cpu_ms, 50),
        cpu_p99_ms=percentile(assess_cpu_ms, 99),
        target_p99_ms=5.0,
        review=reviews,
        block=blocks,
        record_p99_ms=percentile(record_ms, 99),
        baseline_insert_p50_ms=percentile(insert_ms, 50),
        baseline_insert_p99_ms=percentile(insert_ms, 99),
        baseline_sql_window_p99_ms=percentile(sql_ms, 99),
        history_transactions=TRANSACTIONS,
        build_s=build_seconds,
        loadavg=round(os.getloadavg()[0], 1),
    )


if __name__ == "__main__":
    main()
