"""B07 for the ledger, on PostgreSQL: entries and transfers cannot be updated or
deleted by any role (corrections are new reversing transfers), and a deferred
constraint trigger refuses to commit a transfer whose entries do not sum to
zero. Also creates the system accounts and the default money limits.

The default limits follow INCIDENT.md's industry guidance: card top-ups at most
¥20,000 a day and ¥50,000 in 30 days; analysts change them in the admin."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

FORWARD = """
CREATE OR REPLACE FUNCTION anzen_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS wallet_entry_append_only ON wallet_entry;
CREATE TRIGGER wallet_entry_append_only
    BEFORE UPDATE OR DELETE ON wallet_entry
    FOR EACH ROW EXECUTE FUNCTION anzen_refuse_change();
DROP TRIGGER IF EXISTS wallet_transfer_append_only ON wallet_transfer;
CREATE TRIGGER wallet_transfer_append_only
    BEFORE UPDATE OR DELETE ON wallet_transfer
    FOR EACH ROW EXECUTE FUNCTION anzen_refuse_change();

CREATE OR REPLACE FUNCTION anzen_transfer_balanced() RETURNS trigger AS $$
DECLARE
    total bigint;
    legs integer;
BEGIN
    SELECT coalesce(sum(amount_yen), 0), count(*) INTO total, legs
        FROM wallet_entry WHERE transfer_id = NEW.transfer_id;
    IF total <> 0 OR legs < 2 THEN
        RAISE EXCEPTION 'transfer % does not balance: % entries summing to %', NEW.transfer_id, legs, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS wallet_entry_balanced ON wallet_entry;
CREATE CONSTRAINT TRIGGER wallet_entry_balanced
    AFTER INSERT ON wallet_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION anzen_transfer_balanced();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS wallet_entry_balanced ON wallet_entry;
DROP TRIGGER IF EXISTS wallet_entry_append_only ON wallet_entry;
DROP TRIGGER IF EXISTS wallet_transfer_append_only ON wallet_transfer;
"""

SYSTEM_ACCOUNTS = [
    "card_clearing",
    "cash_clearing",
    "atm_clearing",
    "held_topups",
    "compensation_expense",
    "refund_payable",
    "unclaimed_balances",
]

DEFAULT_LIMITS = [
    # kind, per charge, per rolling day, per rolling 30 days, all customers per rolling day
    ("topup.card", 20_000, 20_000, 50_000, 100_000_000),
    ("topup.cash", 50_000, 100_000, 300_000, None),
    ("payment", 50_000, 100_000, 500_000, None),
    ("balance", 300_000, None, None, None),
]


def triggers_forward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Through the cursor without parameters, so the '%' placeholders of RAISE reach PL/pgSQL as written.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FORWARD)


def triggers_backward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(BACKWARD)


def rows_forward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    LedgerAccount = apps.get_model("wallet", "LedgerAccount")
    LimitPolicy = apps.get_model("wallet", "LimitPolicy")
    for code in SYSTEM_ACCOUNTS:
        LedgerAccount.objects.get_or_create(code=code, defaults={"kind": code})
    for kind, per_charge, per_day, per_30_days, global_per_day in DEFAULT_LIMITS:
        LimitPolicy.objects.get_or_create(
            kind=kind,
            defaults={
                "per_charge_max_yen": per_charge,
                "per_day_max_yen": per_day,
                "per_30_days_max_yen": per_30_days,
                "global_per_day_max_yen": global_per_day,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("wallet", "0003_money")]
    operations = [
        migrations.RunPython(triggers_forward, triggers_backward),
        migrations.RunPython(rows_forward, migrations.RunPython.noop),
    ]
