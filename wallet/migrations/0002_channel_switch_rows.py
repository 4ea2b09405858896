from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

CHANNEL_NAMES = [
    "signup",
    "login.password",
    "card.register",
    "charge.credit_card",
    "charge.debit_card",
    "charge.store_register",
    "charge.atm",
    "payment.store",
    "refund.claims",
    "payout.bank",
]


def create_rows(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    channel_switch = apps.get_model("wallet", "ChannelSwitch")
    for name in CHANNEL_NAMES:
        channel_switch.objects.get_or_create(name=name, defaults={"enabled": True, "reason": "initial state"})


class Migration(migrations.Migration):
    dependencies = [("wallet", "0001_initial")]
    operations = [migrations.RunPython(create_rows, migrations.RunPython.noop)]
