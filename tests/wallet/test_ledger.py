"""The ledger: posting and reversing transfers, the PostgreSQL append-only and
balance triggers (B07), and ``manage.py ledger_check`` on good and corrupted data.

Corruption is done with raw SQL inside the test's transaction (triggers and
constraints disabled or dropped there), so it is rolled back with the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from wallet.models import AccountFreeze, Entry, LedgerAccount, Merchant, Payment, PaymentRefund, Terminal, TopUp, Transfer, User
from wallet.services.ledger import (
    AlreadyReversed,
    BalanceCapExceeded,
    InsufficientFunds,
    Leg,
    WalletFrozen,
    merchant_payable_account,
    new_idempotency_key,
    system_account,
    transfer_post,
    transfer_reverse,
    wallet_account_for,
)
from wallet.services.ledger_audit import ledger_verify

pytestmark = pytest.mark.django_db


def make_wallet(name: str = "hanako") -> LedgerAccount:
    # No password: hashing one would cost more than the whole test.
    user = User.objects.create_user(f"{name}-{uuid.uuid4().hex[:8]}@example.jp", None, full_name=name)
    return wallet_account_for(user)


def fund(account: LedgerAccount, amount_yen: int) -> Transfer:
    return transfer_post(
        kind=Transfer.Kind.TOPUP,
        legs=[Leg(system_account("card_clearing"), -amount_yen), Leg(account, amount_yen)],
        idempotency_key=new_idempotency_key("test-topup"),
    )


def move(source: LedgerAccount, target: LedgerAccount, amount_yen: int, **options: object) -> Transfer:
    return transfer_post(
        kind=Transfer.Kind.ADJUSTMENT,
        legs=[Leg(source, -amount_yen), Leg(target, amount_yen)],
        idempotency_key=new_idempotency_key("test-move"),
        **options,  # type: ignore[arg-type]
    )


def balance(account: LedgerAccount) -> int:
    return int(LedgerAccount.objects.values_list("balance_yen", flat=True).get(pk=account.pk) or 0)


def freeze(account: LedgerAccount, scope: str, **fields: object) -> AccountFreeze:
    assert account.owner is not None
    return AccountFreeze.objects.create(user=account.owner, scope=scope, source=AccountFreeze.Source.STAFF, reason="test", **fields)


def raw(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def alter_table(sql: str) -> None:
    """ALTER TABLE inside the test's transaction. PostgreSQL refuses it while deferred
    trigger events are queued (the balance trigger, Django's deferred foreign keys), so run
    those (passing) checks of the rows so far first."""
    raw("SET CONSTRAINTS ALL IMMEDIATE")
    raw("SET CONSTRAINTS ALL DEFERRED")
    raw(sql)


# --- transfer_post ---------------------------------------------------------------------


def test_a_balanced_transfer_moves_cached_balances_and_writes_entries_that_sum_to_zero() -> None:
    hanako, taro = make_wallet("hanako"), make_wallet("taro")
    fund(hanako, 5_000)

    transfer = move(hanako, taro, 1_200)

    assert (balance(hanako), balance(taro)) == (3_800, 1_200)
    amounts = sorted(transfer.entries.values_list("amount_yen", flat=True))
    assert amounts == [-1_200, 1_200]
    # System accounts keep no cached balance, so no hot row.
    assert LedgerAccount.objects.get(code="card_clearing").balance_yen is None
    assert ledger_verify().ok


@pytest.mark.parametrize(
    ("amounts", "why"),
    [
        ((-1_000, 999), "unbalanced"),
        ((-1_000, 0, 1_000), "zero entry"),
        ((-1_000.0, 1_000.0), "float yen"),
        ((-1_000, True), "bool is not yen"),
        ((1_000,), "a single leg"),
    ],
)
def test_a_malformed_transfer_is_refused_before_anything_is_written(amounts: tuple[object, ...], why: str) -> None:
    hanako, taro = make_wallet("hanako"), make_wallet("taro")
    fund(hanako, 5_000)
    transfers_before = Transfer.objects.count()
    accounts = [hanako, taro, system_account("card_clearing")]

    with pytest.raises(ValueError):
        transfer_post(
            kind=Transfer.Kind.ADJUSTMENT,
            legs=[Leg(accounts[i], amount) for i, amount in enumerate(amounts)],  # type: ignore[arg-type]
            idempotency_key=new_idempotency_key("bad"),
        )

    assert Transfer.objects.count() == transfers_before, why
    assert (balance(hanako), balance(taro)) == (5_000, 0)


def test_insufficient_funds_refuses_and_changes_nothing() -> None:
    hanako, taro = make_wallet("hanako"), make_wallet("taro")
    fund(hanako, 1_000)
    counts_before = (Transfer.objects.count(), Entry.objects.count())

    with pytest.raises(InsufficientFunds):
        move(hanako, taro, 1_001)

    assert (balance(hanako), balance(taro)) == (1_000, 0)
    assert (Transfer.objects.count(), Entry.objects.count()) == counts_before
    # Exactly the whole balance is allowed.
    move(hanako, taro, 1_000)
    assert (balance(hanako), balance(taro)) == (0, 1_000)


def test_the_same_idempotency_key_never_posts_twice() -> None:
    hanako = make_wallet()
    legs = [Leg(system_account("card_clearing"), -500), Leg(hanako, 500)]
    transfer_post(kind=Transfer.Kind.TOPUP, legs=legs, idempotency_key="topup:once")

    with pytest.raises(IntegrityError):
        transfer_post(kind=Transfer.Kind.TOPUP, legs=legs, idempotency_key="topup:once")

    assert balance(hanako) == 500
    assert Transfer.objects.filter(idempotency_key="topup:once").count() == 1


@pytest.mark.parametrize(
    ("scope", "debit_refused", "credit_refused"),
    [
        (AccountFreeze.Scope.ALL, True, True),
        (AccountFreeze.Scope.DEBITS, True, False),
        (AccountFreeze.Scope.CREDITS, False, True),
    ],
)
def test_a_freeze_refuses_by_its_scope(scope: str, debit_refused: bool, credit_refused: bool) -> None:
    frozen, other = make_wallet("frozen"), make_wallet("other")
    fund(frozen, 1_000)
    fund(other, 1_000)
    freeze(frozen, scope)

    for refused, source, target in ((debit_refused, frozen, other), (credit_refused, other, frozen)):
        before = (balance(frozen), balance(other))
        if refused:
            with pytest.raises(WalletFrozen):
                move(source, target, 100)
            assert (balance(frozen), balance(other)) == before
        else:
            move(source, target, 100)
    assert ledger_verify().ok


def test_lifted_and_expired_freezes_no_longer_refuse_and_staff_corrections_may_bypass() -> None:
    hanako, taro = make_wallet("hanako"), make_wallet("taro")
    fund(hanako, 1_000)
    freeze(hanako, AccountFreeze.Scope.ALL, lifted_at=timezone.now())
    freeze(hanako, AccountFreeze.Scope.ALL, expires_at=timezone.now() - timedelta(minutes=1))
    move(hanako, taro, 100)

    freeze(hanako, AccountFreeze.Scope.ALL)
    with pytest.raises(WalletFrozen):
        move(hanako, taro, 100)
    move(hanako, taro, 100, honour_freezes=False)
    assert (balance(hanako), balance(taro)) == (800, 200)


def test_the_balance_cap_refuses_credits_above_it_but_not_debits() -> None:
    hanako, taro = make_wallet("hanako"), make_wallet("taro")
    fund(hanako, 9_000)
    fund(taro, 2_000)

    with pytest.raises(BalanceCapExceeded):
        move(taro, hanako, 1_001, balance_cap_yen=10_000)
    assert (balance(hanako), balance(taro)) == (9_000, 2_000)

    move(taro, hanako, 1_000, balance_cap_yen=10_000)  # up to the cap exactly
    # A wallet above a (lowered) cap can still pay.
    move(hanako, system_account("card_clearing"), 4_000, balance_cap_yen=10)
    assert (balance(hanako), balance(taro)) == (6_000, 1_000)


# --- transfer_reverse ------------------------------------------------------------------


def test_a_reversal_negates_every_entry_and_happens_only_once() -> None:
    hanako, taro = make_wallet("hanako"), make_wallet("taro")
    fund(hanako, 3_000)
    original = move(hanako, taro, 2_000)

    reversal = transfer_reverse(transfer=original, reason="paid the wrong person")

    assert (balance(hanako), balance(taro)) == (3_000, 0)
    assert reversal.kind == Transfer.Kind.REVERSAL and reversal.reverses_id == original.pk
    assert sorted(reversal.entries.values_list("account_id", "amount_yen")) == sorted(
        (account_id, -amount) for account_id, amount in original.entries.values_list("account_id", "amount_yen")
    )
    with pytest.raises(AlreadyReversed):
        transfer_reverse(transfer=original, reason="again")
    with pytest.raises(AlreadyReversed):
        transfer_reverse(transfer=reversal, reason="reverse the reversal")
    assert (balance(hanako), balance(taro)) == (3_000, 0)
    assert ledger_verify().ok


def test_a_reversal_cannot_take_a_wallet_below_zero() -> None:
    hanako, taro = make_wallet("hanako"), make_wallet("taro")
    topup = fund(hanako, 1_000)
    move(hanako, taro, 800)

    with pytest.raises(InsufficientFunds):
        transfer_reverse(transfer=topup, reason="card charge-back")

    assert balance(hanako) == 200
    assert not Transfer.objects.filter(reverses=topup).exists()


# --- B07: the database refuses edits ------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE wallet_entry SET amount_yen = amount_yen * 2 WHERE transfer_id = %s",
        "DELETE FROM wallet_entry WHERE transfer_id = %s",
        "UPDATE wallet_transfer SET description = 'edited' WHERE id = %s",
        "DELETE FROM wallet_transfer WHERE id = %s",
    ],
    ids=["update-entry", "delete-entry", "update-transfer", "delete-transfer"],
)
def test_b07_raw_sql_cannot_update_or_delete_entries_or_transfers(sql: str) -> None:
    hanako = make_wallet()
    transfer = fund(hanako, 1_000)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw(sql, [transfer.pk])

    assert sorted(transfer.entries.values_list("amount_yen", flat=True)) == [-1_000, 1_000]
    assert Transfer.objects.get(pk=transfer.pk).description == transfer.description


def test_b07_the_orm_cannot_edit_or_delete_entries_either() -> None:
    hanako = make_wallet()
    transfer = fund(hanako, 1_000)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Entry.objects.filter(transfer=transfer).update(amount_yen=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Entry.objects.filter(transfer=transfer).delete()

    assert Entry.objects.filter(transfer=transfer).count() == 2


def test_b07_the_deferred_trigger_refuses_an_unbalanced_transfer_written_with_raw_sql() -> None:
    hanako = make_wallet()
    clearing = system_account("card_clearing")

    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_transfer (public_id, kind, idempotency_key, description, created_at) "
            "VALUES (%s, 'adjustment', 'raw:unbalanced', '', now()) RETURNING id",
            [uuid.uuid4()],
        )
        (transfer_id,) = cursor.fetchone()  # type: ignore[misc]
        cursor.execute(
            "INSERT INTO wallet_entry (transfer_id, account_id, amount_yen, created_at) "
            "VALUES (%s, %s, 1000, now()), (%s, %s, -999, now())",
            [transfer_id, hanako.pk, transfer_id, clearing.pk],
        )
        # The trigger is deferred to commit; a test never commits, so ask for the check now.
        cursor.execute("SET CONSTRAINTS wallet_entry_balanced IMMEDIATE")

    assert not Transfer.objects.filter(idempotency_key="raw:unbalanced").exists()


@pytest.mark.django_db(transaction=True)
def test_b07_an_unbalanced_raw_sql_transfer_fails_at_commit() -> None:
    hanako = make_wallet()
    clearing = system_account("card_clearing")

    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_transfer (public_id, kind, idempotency_key, description, created_at) "
            "VALUES (%s, 'adjustment', 'raw:commit', '', now()) RETURNING id",
            [uuid.uuid4()],
        )
        (transfer_id,) = cursor.fetchone()  # type: ignore[misc]
        cursor.execute(
            "INSERT INTO wallet_entry (transfer_id, account_id, amount_yen, created_at) VALUES (%s, %s, 700, now())",
            [transfer_id, hanako.pk],
        )
        # Balanced entries for another account do not save it: the check is per transfer.
        cursor.execute(
            "INSERT INTO wallet_entry (transfer_id, account_id, amount_yen, created_at) VALUES (%s, %s, -600, now())",
            [transfer_id, clearing.pk],
        )

    assert not Transfer.objects.filter(idempotency_key="raw:commit").exists()
    assert ledger_verify().ok


# --- ledger_check ------------------------------------------------------------------------


def busy_ledger() -> dict[str, object]:
    """A small ledger with one of everything: top-ups, a held top-up released, a
    wallet-to-wallet move, a reversal, a store payment and a partial refund."""
    hanako, taro = make_wallet("hanako"), make_wallet("taro")
    assert hanako.owner is not None and taro.owner is not None
    topup_transfer = fund(hanako, 10_000)
    topup = TopUp.objects.create(
        user=hanako.owner,
        request_key=f"test:{uuid.uuid4().hex}",
        channel=TopUp.Channel.CREDIT_CARD,
        amount_yen=10_000,
        status=TopUp.Status.SUCCEEDED,
        transfer=topup_transfer,
    )
    held = transfer_post(
        kind=Transfer.Kind.TOPUP,
        legs=[Leg(system_account("cash_clearing"), -3_000), Leg(system_account("held_topups"), 3_000)],
        idempotency_key=new_idempotency_key("held"),
    )
    release = transfer_post(
        kind=Transfer.Kind.TOPUP_RELEASE,
        legs=[Leg(system_account("held_topups"), -3_000), Leg(taro, 3_000)],
        idempotency_key=new_idempotency_key("release"),
    )
    TopUp.objects.create(
        user=taro.owner,
        request_key=f"test:{uuid.uuid4().hex}",
        channel=TopUp.Channel.STORE_REGISTER,
        amount_yen=3_000,
        status=TopUp.Status.SUCCEEDED,
        transfer=held,
        release_transfer=release,
    )
    moved = move(hanako, taro, 500)
    reversal = transfer_reverse(transfer=moved, reason="mistake")

    merchant = Merchant.objects.create(name="Lawson Shibuya", code=f"lawson-{uuid.uuid4().hex[:6]}")
    terminal = Terminal.objects.create(merchant=merchant, name="Register 1", key_prefix=uuid.uuid4().hex[:8], key_digest=uuid.uuid4().hex)
    payable = merchant_payable_account(merchant)
    payment_transfer = transfer_post(
        kind=Transfer.Kind.PAYMENT, legs=[Leg(hanako, -2_000), Leg(payable, 2_000)], idempotency_key=new_idempotency_key("pay")
    )
    refund_transfer = transfer_post(
        kind=Transfer.Kind.PAYMENT_REFUND, legs=[Leg(payable, -500), Leg(hanako, 500)], idempotency_key=new_idempotency_key("refund")
    )
    payment = Payment.objects.create(
        user=hanako.owner,
        merchant=merchant,
        terminal=terminal,
        amount_yen=2_000,
        refunded_yen=500,
        status=Payment.Status.PARTIALLY_REFUNDED,
        transfer=payment_transfer,
    )
    refund = PaymentRefund.objects.create(payment=payment, terminal=terminal, amount_yen=500, transfer=refund_transfer)
    return {
        "hanako": hanako,
        "taro": taro,
        "topup": topup,
        "moved": moved,
        "reversal": reversal,
        "payment": payment,
        "refund": refund,
    }


def run_ledger_check() -> str:
    out = StringIO()
    call_command("ledger_check", stdout=out)
    return out.getvalue()


def test_ledger_check_passes_on_a_healthy_ledger() -> None:
    busy_ledger()

    output = run_ledger_check()

    assert "Ledger OK." in output
    assert "FAIL" not in output
    report = ledger_verify()
    assert report.ok and report.drift == 0
    assert report.counts["transfers"] == 7 and report.counts["payments"] == 1 and report.counts["reversals"] == 1
    assert report.wallet_cached_total_yen == report.wallet_entries_total_yen == 10_000 + 3_000 - 2_000 + 500


def _entry_edited(ledger: dict[str, object]) -> int:
    moved = ledger["moved"]
    assert isinstance(moved, Transfer)
    alter_table("ALTER TABLE wallet_entry DISABLE TRIGGER wallet_entry_append_only")
    raw("UPDATE wallet_entry SET amount_yen = amount_yen + 100 WHERE transfer_id = %s AND amount_yen > 0", [moved.pk])
    return moved.pk


def _extra_entry(ledger: dict[str, object]) -> int:
    moved = ledger["moved"]
    hanako = ledger["hanako"]
    assert isinstance(moved, Transfer) and isinstance(hanako, LedgerAccount)
    alter_table("ALTER TABLE wallet_entry DISABLE TRIGGER wallet_entry_balanced")
    raw("INSERT INTO wallet_entry (transfer_id, account_id, amount_yen, created_at) VALUES (%s, %s, 1, now())", [moved.pk, hanako.pk])
    return moved.pk


def _transfer_without_entries(ledger: dict[str, object]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_transfer (public_id, kind, idempotency_key, description, created_at) "
            "VALUES (%s, 'adjustment', 'raw:empty', '', now()) RETURNING id",
            [uuid.uuid4()],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def _cached_balance_edited(ledger: dict[str, object]) -> int:
    taro = ledger["taro"]
    assert isinstance(taro, LedgerAccount)
    raw("UPDATE wallet_ledgeraccount SET balance_yen = balance_yen + 1 WHERE id = %s", [taro.pk])
    return taro.pk


def _wallet_negative(ledger: dict[str, object]) -> int:
    taro = ledger["taro"]
    assert isinstance(taro, LedgerAccount)
    alter_table("ALTER TABLE wallet_ledgeraccount DROP CONSTRAINT ledger_wallet_balance_not_negative")
    raw("UPDATE wallet_ledgeraccount SET balance_yen = -5 WHERE id = %s", [taro.pk])
    return taro.pk


def _system_account_cached(ledger: dict[str, object]) -> int:
    clearing = system_account("card_clearing")
    alter_table("ALTER TABLE wallet_ledgeraccount DROP CONSTRAINT ledger_only_wallets_cache_balance")
    raw("UPDATE wallet_ledgeraccount SET balance_yen = 0 WHERE id = %s", [clearing.pk])
    return clearing.pk


def _reversal_edited(ledger: dict[str, object]) -> int:
    reversal = ledger["reversal"]
    hanako, taro = ledger["hanako"], ledger["taro"]
    assert isinstance(reversal, Transfer) and isinstance(hanako, LedgerAccount) and isinstance(taro, LedgerAccount)
    # Still balanced, but no longer the mirror of what it reverses.
    alter_table("ALTER TABLE wallet_entry DISABLE TRIGGER wallet_entry_append_only")
    raw("UPDATE wallet_entry SET amount_yen = amount_yen / 2 WHERE transfer_id = %s", [reversal.pk])
    return reversal.pk


def _payment_amount_edited(ledger: dict[str, object]) -> int:
    payment = ledger["payment"]
    assert isinstance(payment, Payment)
    raw("UPDATE wallet_payment SET amount_yen = 20000 WHERE id = %s", [payment.pk])
    return payment.pk


def _payment_refunded_total_edited(ledger: dict[str, object]) -> int:
    payment = ledger["payment"]
    assert isinstance(payment, Payment)
    raw("UPDATE wallet_payment SET refunded_yen = 2000, status = 'refunded' WHERE id = %s", [payment.pk])
    return payment.pk


def _refund_amount_edited(ledger: dict[str, object]) -> int:
    refund = ledger["refund"]
    assert isinstance(refund, PaymentRefund)
    raw("UPDATE wallet_paymentrefund SET amount_yen = 1500 WHERE id = %s", [refund.pk])
    return refund.pk


def _topup_without_transfer(ledger: dict[str, object]) -> int:
    topup = ledger["topup"]
    assert isinstance(topup, TopUp)
    raw("UPDATE wallet_topup SET transfer_id = NULL WHERE id = %s", [topup.pk])
    return topup.pk


CORRUPTIONS: list[tuple[str, Callable[[dict[str, object]], int], str]] = [
    ("entry edited with the trigger disabled", _entry_edited, "transfer_unbalanced"),
    ("extra entry on a transfer", _extra_entry, "transfer_unbalanced"),
    ("transfer without entries", _transfer_without_entries, "transfer_without_entries"),
    ("cached balance edited", _cached_balance_edited, "wallet_cache_mismatch"),
    ("negative wallet", _wallet_negative, "wallet_negative"),
    ("system account with a cached balance", _system_account_cached, "system_account_cached_balance"),
    ("reversal that no longer mirrors", _reversal_edited, "reversal_mismatch"),
    ("payment amount edited", _payment_amount_edited, "payment_money_mismatch"),
    ("refunded total edited", _payment_refunded_total_edited, "payment_money_mismatch"),
    ("refund amount edited", _refund_amount_edited, "payment_refund_money_mismatch"),
    ("succeeded top-up without its transfer", _topup_without_transfer, "topup_money_mismatch"),
]


@pytest.mark.parametrize(("corrupt", "check"), [(c[1], c[2]) for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_ledger_check_fails_on_each_kind_of_corruption(corrupt: Callable[[dict[str, object]], int], check: str) -> None:
    ledger = busy_ledger()
    bad_id = corrupt(ledger)

    with pytest.raises(CommandError, match=check):
        run_ledger_check()

    report = ledger_verify()
    assert not report.ok and report.drift > 0
    assert bad_id in report.check(check).sample_ids
    assert f"FAIL  {check}" in "\n".join(report.lines())


def test_ledger_check_lists_the_first_twenty_offenders_and_counts_all() -> None:
    wallets = [make_wallet(f"w{i}") for i in range(25)]
    raw("UPDATE wallet_ledgeraccount SET balance_yen = 7 WHERE id = ANY(%s)", [[w.pk for w in wallets]])

    report = ledger_verify()

    mismatch = report.check("wallet_cache_mismatch")
    assert mismatch.violations == 25
    assert list(mismatch.sample_ids) == sorted(w.pk for w in wallets)[:20]
    assert report.drift == 25 + 25 * 7
