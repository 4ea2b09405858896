"""Staff roles are groups (ARCHITECTURE.md, B08). Each gets only the model
permissions its work needs today; later issues add permissions for the models
they create in their own migrations.

Permissions are normally created after ``migrate`` by a post_migrate signal, so
this migration creates them first with ``create_permissions``.
"""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

SUPPORT = [
    "wallet.view_user",
    "wallet.view_authevent",
    "wallet.view_knowndevice",
    "wallet.view_usersession",
    "wallet.view_notification",
    "wallet.view_channelswitch",
    "wallet.view_channelswitchchange",
]
FRAUD_ANALYST = [
    *SUPPORT,
    "wallet.change_channelswitch",
    "backoffice.view_staffaction",
]
FINANCE = [
    "wallet.view_user",
    "backoffice.view_staffaction",
]
SUPERVISOR = sorted({*SUPPORT, *FRAUD_ANALYST, *FINANCE, "backoffice.export_staffaction"})

ROLES = {
    "support": SUPPORT,
    "fraud_analyst": FRAUD_ANALYST,
    "finance": FINANCE,
    "supervisor": SUPERVISOR,
}


def forward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # type: ignore[assignment]
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        group, _created = Group.objects.get_or_create(name=role)
        permissions = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(permissions)


def backward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0003_staff_action_append_only"),
        ("wallet", "0002_channel_switch_rows"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forward, backward)]
