"""Permissions for the money and risk models (issue 3), added to the roles of
0004. Fraud analysts tune the risk rules and limits and read what they decided;
support reads a customer's money records to answer them; finance reads the
ledger. The supervisor holds everything the roles hold.
"""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

SUPPORT = [
    "wallet.view_topup",
    "wallet.view_payment",
    "wallet.view_paymentrefund",
    "wallet.view_card",
    "wallet.view_transactionreport",
    "wallet.view_accountfreeze",
    "wallet.view_merchant",
    "wallet.view_terminal",
]
FRAUD_ANALYST = [
    *SUPPORT,
    "wallet.view_riskrule",
    "wallet.change_riskrule",
    "wallet.view_riskrulechange",
    "wallet.view_limitpolicy",
    "wallet.change_limitpolicy",
    "wallet.view_riskdecision",
]
FINANCE = [
    "wallet.view_ledgeraccount",
    "wallet.view_transfer",
    "wallet.view_entry",
    "wallet.view_topup",
    "wallet.view_payment",
    "wallet.view_paymentrefund",
    "wallet.view_merchant",
    "wallet.view_limitpolicy",
]
SUPERVISOR = sorted({*SUPPORT, *FRAUD_ANALYST, *FINANCE})

ADDED = {
    "support": SUPPORT,
    "fraud_analyst": FRAUD_ANALYST,
    "finance": FINANCE,
    "supervisor": SUPERVISOR,
}


def _permissions(apps: Apps, codenames: list[str]) -> list[object]:
    Permission = apps.get_model("auth", "Permission")
    found = []
    for dotted in codenames:
        app_label, codename = dotted.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def forward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # type: ignore[assignment]
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, codenames in ADDED.items():
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, codenames))


def backward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Group = apps.get_model("auth", "Group")
    for role, codenames in ADDED.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0004_staff_groups"),
        ("wallet", "0005_default_risk_rules"),
    ]
    operations = [migrations.RunPython(forward, backward)]
