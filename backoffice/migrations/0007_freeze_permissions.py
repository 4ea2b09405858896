"""Staff freezes (S03): support, fraud analysts and supervisors may freeze a
customer's account and ask for a freeze to be lifted; lifting itself needs a
second person with ``check_approval`` (B04)."""

from typing import Any

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

FREEZE = ["wallet.add_accountfreeze", "wallet.change_accountfreeze"]
ADDED = {"support": FREEZE, "fraud_analyst": FREEZE, "supervisor": FREEZE}


def _permissions(apps: Apps, codenames: list[str]) -> list[Any]:
    Permission = apps.get_model("auth", "Permission")
    found = []
    for dotted in codenames:
        app_label, codename = dotted.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def grant(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # type: ignore[assignment]
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, codenames in ADDED.items():
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, codenames))


def revoke(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Group = apps.get_model("auth", "Group")
    for role, codenames in ADDED.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0006_approvals"),
        ("wallet", "0003_money"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
