"""Set-based seeding of approved bank-transfer refund claims, for the payout tests and bench.

``approved_bank_claims_seed(count=…)`` writes, inside PostgreSQL (INSERT … SELECT
generate_series, no Python loop per row), ``count`` customers as a finished claim
leaves them, exactly as ``claim_submit`` and a staff approval would have:

- a verified customer with a registered name in kana (full-width katakana);
- a wallet that was funded by a cash top-up (cash_clearing → wallet) and then emptied
  by the claim (wallet → refund_payable), so its cached balance (0) equals its
  entries and every transfer sums to zero: ``ledger_check`` stays green;
- a claim in ``approved`` (method bank, login route) whose ``transfer`` is that
  claim transfer, with its ``submitted`` history row;
- one current ``BankDetails`` row with valid Zengin fields: bank 0001 branch 001,
  ordinary account, a 7-digit number unique per claim, the holder name in
  half-width kana matching the customer's registered kana (``names_match``), and the
  same keyed fingerprint ``bank_account_fingerprint`` computes (HMAC-SHA256 written
  out with PostgreSQL's ``sha256``, so no extension is needed).

Ids are blocks reserved in the tables' own sequences, so rows written later by the ORM
never collide. 10k claims take 1–3 s; 120k about 20 s, 10 s with the bench's indexes built after the load.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from refunds.models import RefundClaim, ShutdownProgramme, bank_account_fingerprint
from refunds.zengin.names import names_match, normalise_holder_name
from wallet.services.ledger import system_account

BANK_CODE = "0001"
BRANCH_CODE = "001"
BANK_NAME, BANK_NAME_KANA = "みずほ銀行", "ミズホ"
BRANCH_NAME, BRANCH_NAME_KANA = "東京営業部", "トウキヨウ"

# Registered names in kana: voiced and semi-voiced kana, small kana (ｷｮ → ｷﾖ in bank form) and long vowels.
FAMILY_NAMES = [
    "ヤマダ",
    "サトウ",
    "スズキ",
    "タカハシ",
    "タナカ",
    "ワタナベ",
    "イトウ",
    "ナカムラ",
    "コバヤシ",
    "カトウ",
    "ヨシダ",
    "ヤマモト",
    "サイトウ",
    "マツモト",
    "イノウエ",
    "キムラ",
    "ハヤシ",
    "シミズ",
    "ヤマザキ",
    "モリ",
    "イケダ",
    "ハシモト",
    "アベ",
    "イシカワ",
    "オガワ",
    "ゴトウ",
    "オカダ",
    "ハセガワ",
    "フジタ",
    "マエダ",
    "ペリー",
    "ジョウノウチ",
]
GIVEN_NAMES = [
    "ハナコ",
    "タロウ",
    "ケンジ",
    "ユキ",
    "アキラ",
    "マイ",
    "ショウ",
    "リン",
    "ジロウ",
    "サクラ",
    "キョウコ",
    "リュウジ",
    "ミサキ",
    "ダイスケ",
    "ユウコ",
    "シュンペイ",
    "チヒロ",
    "ゴロウ",
    "ナナミ",
    "ヒロシ",
    "メアリー",
    "ケイ",
    "ツバサ",
    "ヨウヘイ",
]


SEEDED_TABLES = ("wallet_user", "wallet_ledgeraccount", "wallet_transfer", "wallet_entry", "refunds_refundclaim", "refunds_bankdetails")


@dataclass(frozen=True)
class SeededClaims:
    programme_id: int
    count: int
    total_yen: int
    first_claim_id: int
    last_claim_id: int


def name_pairs() -> tuple[list[str], list[str]]:
    """(registered kana, bank-form holder name) for every family × given name, checked to match."""
    kana = [f"{family} {given}" for family in FAMILY_NAMES for given in GIVEN_NAMES]
    holders = [normalise_holder_name(name) for name in kana]
    for registered, holder in zip(kana, holders, strict=True):
        if not names_match(holder, registered):  # pragma: no cover - a list edited wrongly
            raise ValueError(f"{holder!r} does not match {registered!r}")
    return kana, holders


def _hmac_pads() -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer key blocks for SECRET_KEY (RFC 2104), so SQL computes
    sha256(outer || sha256(inner || message)) = the fingerprint ``bank_account_fingerprint`` gives."""
    key = settings.SECRET_KEY.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def seed_programme() -> ShutdownProgramme:
    """The live programme, or an announced one whose claim window is open."""
    existing = ShutdownProgramme.objects.exclude(state=ShutdownProgramme.State.CANCELLED).order_by("-id").first()
    if existing is not None:
        return existing
    now = timezone.now()
    opens = now - timedelta(days=10)
    return ShutdownProgramme.objects.create(
        title="AnzenPay サービス終了",
        announced_on=(opens - timedelta(days=30)).date(),
        service_ends_at=opens,
        claims_open_at=opens,
        claims_close_at=opens + timedelta(days=90),
        notice_ja="AnzenPayはサービスを終了します。",
        notice_en="AnzenPay is closing.",
        state=ShutdownProgramme.State.SERVICE_ENDED,
    )


# Ids each claim takes from the table's sequence: a user, a wallet, two transfers (top-up, claim), the claim.
RESERVED_IDS = {"wallet_user": 1, "wallet_ledgeraccount": 1, "wallet_transfer": 2, "refunds_refundclaim": 1}


def _ids_reserve(cursor: Any, table: str, count: int) -> int:
    """The first of ``count`` consecutive ids taken from ``table``'s id sequence in one step
    (``nextval`` per row costs seconds at 120k rows). Nothing else inserts while a test seeds."""
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1)", [table, table, count]
    )
    row = cursor.fetchone()
    return int(row[0]) - count + 1


def _amount_sql(column: str) -> str:
    # ¥100–¥30,000, spread deterministically (7919 is prime to the range).
    return f"(100 + mod({column} * 7919, 29901))"


def approved_bank_claims_seed(
    *, count: int, prefix: str = "seed", programme: ShutdownProgramme | None = None, triggers: bool = True, analyze: bool = True
) -> SeededClaims:
    """Write ``count`` approved bank claims with their customers, money and details (see the module docstring).

    ``triggers=False`` runs the load with ``session_replication_role = replica`` (as the
    benches' bulk loads do): the append-only and balance triggers and foreign-key checks
    are skipped for these inserts only. The rows are the same; ``ledger_check`` proves it.
    ``analyze=False`` leaves the statistics to the caller (a bench that vacuums anyway).
    """
    if count < 1:
        raise ValueError("count must be positive")
    programme = programme or seed_programme()
    kana, holders = name_pairs()
    inner, outer = _hmac_pads()
    cash, payable = system_account("cash_clearing"), system_account("refund_payable")
    params: dict[str, Any] = {
        "n": count,
        "prefix": prefix,
        "kana": kana,
        "holders": holders,
        "names": len(kana),
        "inner": inner,
        "outer": outer,
        "cash": cash.pk,
        "payable": payable.pk,
        "programme": programme.pk,
        "bank": BANK_CODE,
        "branch": BRANCH_CODE,
        "bank_name": BANK_NAME,
        "bank_kana": BANK_NAME_KANA,
        "branch_name": BRANCH_NAME,
        "branch_kana": BRANCH_NAME_KANA,
    }
    amount = _amount_sql("s.g")
    statements = [
        # One row per claim with every id it needs, from blocks reserved in the tables' own sequences.
        """
        CREATE TEMP TABLE seed_claim ON COMMIT DROP AS
        SELECT g, %(wallet_user)s + g - 1 AS user_id, %(wallet_ledgeraccount)s + g - 1 AS wallet_id,
               %(wallet_transfer)s + 2 * (g - 1) AS topup_id, %(wallet_transfer)s + 2 * (g - 1) + 1 AS claim_transfer_id,
               %(refunds_refundclaim)s + g - 1 AS claim_id, 1 + (g %% %(names)s) AS name_index,
               now() - interval '20 days' + g * interval '1 millisecond' AS claimed_at
        FROM generate_series(1, %(n)s) g
        """,
        """
        INSERT INTO wallet_user (id, password, last_login, is_superuser, email, full_name, name_kana, phone, birth_date,
            email_verified_at, phone_verified_at, status, is_staff, is_active, date_joined, credentials_changed_at,
            must_reset_password, staff_enrollment_open_until, preferred_language)
        SELECT s.user_id, '!seed', NULL, FALSE, %(prefix)s || '-' || s.user_id || '@example.jp', 'Seed ' || s.user_id,
               (%(kana)s::text[])[s.name_index], '+8190' || lpad((s.user_id %% 100000000)::text, 8, '0'), NULL,
               now() - interval '400 days', now() - interval '400 days', 'active', FALSE, TRUE, now() - interval '400 days',
               now() - interval '400 days', FALSE, NULL, CASE WHEN s.g %% 10 = 0 THEN 'en' ELSE 'ja' END
        FROM seed_claim s
        """,
        """
        INSERT INTO wallet_ledgeraccount (id, kind, code, balance_yen, created_at, owner_id)
        SELECT s.wallet_id, 'customer_wallet', 'wallet:' || s.user_id, 0, now() - interval '400 days', s.user_id FROM seed_claim s
        """,
        """
        INSERT INTO wallet_transfer (id, public_id, kind, idempotency_key, description, created_at, created_by_id, reverses_id)
        SELECT s.topup_id, gen_random_uuid(), 'topup', %(prefix)s || '-topup:' || s.user_id, 'Cash top-up (seed)',
               s.claimed_at - interval '30 days', NULL::bigint, NULL::bigint FROM seed_claim s
        UNION ALL
        SELECT s.claim_transfer_id, gen_random_uuid(), 'refund_claim',
               'refund_claim:' || %(programme)s || ':' || s.user_id || ':' || %(prefix)s,
               'Refund claim of the whole balance (seed)', s.claimed_at, s.user_id, NULL FROM seed_claim s
        """,
        f"""
        INSERT INTO wallet_entry (amount_yen, created_at, account_id, transfer_id)
        SELECT -{amount}, s.claimed_at - interval '30 days', %(cash)s, s.topup_id FROM seed_claim s
        UNION ALL SELECT {amount}, s.claimed_at - interval '30 days', s.wallet_id, s.topup_id FROM seed_claim s
        UNION ALL SELECT -{amount}, s.claimed_at, s.wallet_id, s.claim_transfer_id FROM seed_claim s
        UNION ALL SELECT {amount}, s.claimed_at, %(payable)s, s.claim_transfer_id FROM seed_claim s
        """,
        f"""
        INSERT INTO refunds_refundclaim (id, number, route, method, amount_yen, state, hold_reasons, stated_name, stated_birth_date,
            late, created_at, updated_at, paid_at, customer_id, filed_by_id, transfer_id, programme_id)
        SELECT s.claim_id, 'R9' || lpad(s.claim_id::text, 9, '0'), 'login', 'bank', {amount}, 'approved', '[]'::jsonb, '', NULL,
               FALSE, s.claimed_at, s.claimed_at, NULL, s.user_id, NULL, s.claim_transfer_id, %(programme)s
        FROM seed_claim s
        """,
        """
        INSERT INTO refunds_bankdetails (claim_id, bank_code, bank_name, bank_name_kana, branch_code, branch_name, branch_name_kana,
            account_type, account_number, holder_name, fingerprint, yucho_kigou, yucho_bangou, created_at, superseded_at)
        SELECT a.claim_id, %(bank)s, %(bank_name)s, %(bank_kana)s, %(branch)s, %(branch_name)s, %(branch_kana)s, 1, a.number,
               (%(holders)s::text[])[a.name_index],
               encode(sha256(%(outer)s::bytea || sha256(%(inner)s::bytea
                   || convert_to(%(bank)s || ':' || %(branch)s || ':' || a.number, 'UTF8'))), 'hex'),
               '', '', a.claimed_at, NULL
        FROM (SELECT s.*, lpad((s.claim_id %% 10000000)::text, 7, '0') AS number FROM seed_claim s) a
        """,
        """
        INSERT INTO refunds_claimevent (claim_id, kind, from_state, to_state, note, detail, created_at, actor_id)
        SELECT s.claim_id, 'submitted', '', 'approved', '', '{"reasons": [], "route": "login"}'::jsonb, s.claimed_at, s.user_id
        FROM seed_claim s
        """,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if not triggers:
            cursor.execute("SET LOCAL session_replication_role = replica")
        for table, per_claim in RESERVED_IDS.items():
            params[table] = _ids_reserve(cursor, table, per_claim * count)
        for statement in statements:
            cursor.execute(statement, params)
        cursor.execute(f"SELECT count(*), coalesce(sum({_amount_sql('g')}), 0), min(claim_id), max(claim_id) FROM seed_claim")
        row = cursor.fetchone()
        assert row is not None
        seeded = SeededClaims(
            programme_id=programme.pk, count=int(row[0]), total_yen=int(row[1]), first_claim_id=int(row[2]), last_claim_id=int(row[3])
        )
    with connection.cursor() as cursor:
        for table in (
            "wallet_user",
            "wallet_ledgeraccount",
            "wallet_transfer",
            "wallet_entry",
            "refunds_refundclaim",
            "refunds_bankdetails",
        ):
            cursor.execute(f"ANALYZE {table}")
    return seeded


def fingerprint_matches(claim: RefundClaim) -> bool:
    """Whether a seeded claim's details carry the fingerprint the application computes (a spot check)."""
    details = claim.bank_details.get(superseded_at__isnull=True)
    expected = bank_account_fingerprint(bank_code=details.bank_code, branch_code=details.branch_code, account_number=details.account_number)
    return hmac.compare_digest(details.fingerprint, expected)
