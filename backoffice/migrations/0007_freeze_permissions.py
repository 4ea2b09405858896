"""Staff freezes (S03): support, fraud analysts and supervisors may freeze a
customer's account and ask for a freeze to be lifted; lifting itself needs a
second person with ``check_approval`` (B04)."""


from django.db import migrations

from backoffice.migrations._grants import role_grants

FREEZE = ["wallet.add_accountfreeze", "wallet.change_accountfreeze"]
ADDED = {"support": FREEZE, "fraud_analyst": FREEZE, "supervisor": FREEZE}


grant, revoke = role_grants(ADDED)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0006_approvals"),
        ("wallet", "0003_money"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
