"""Adding permissions to the staff groups, shared by the data migrations that
grant them. The migration loader skips modules whose name starts with "_".

Permissions are created first: on a fresh database Django only creates them
after every migration has run, and a grant in between would find none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

MigrationStep = Callable[[Apps, BaseDatabaseSchemaEditor], None]


def _permissions(apps: Apps, dotted_names: Sequence[str]) -> list[Any]:
    Permission = apps.get_model("auth", "Permission")
    found = []
    for dotted in dotted_names:
        app_label, codename = dotted.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def role_grants(added: Mapping[str, Sequence[str]]) -> tuple[MigrationStep, MigrationStep]:
    """A RunPython pair: add ``added[role]`` ("app.codename") to each role's group, and take them away again."""

    def grant(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for app_config in apps.get_app_configs():
            app_config.models_module = True  # type: ignore[assignment]
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        for role, dotted_names in added.items():
            group, _created = Group.objects.get_or_create(name=role)
            group.permissions.add(*_permissions(apps, dotted_names))

    def revoke(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        Group = apps.get_model("auth", "Group")
        for role, dotted_names in added.items():
            group = Group.objects.filter(name=role).first()
            if group is not None:
                group.permissions.remove(*_permissions(apps, dotted_names))

    return grant, revoke
