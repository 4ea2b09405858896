"""B07: UPDATE and DELETE on the staff audit log are refused by a trigger,
whatever role the application connects as (PostgreSQL is the only engine: the
demo runs an embedded one). TRUNCATE stays possible for the table owner only
(test database flushes); the application role in production is not the owner."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

FORWARD = """
CREATE OR REPLACE FUNCTION anzen_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'append-only table %%: %% refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS backoffice_staffaction_append_only ON backoffice_staffaction;
CREATE TRIGGER backoffice_staffaction_append_only
    BEFORE UPDATE OR DELETE ON backoffice_staffaction
    FOR EACH ROW EXECUTE FUNCTION anzen_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS backoffice_staffaction_append_only ON backoffice_staffaction;
"""


def forward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(FORWARD)


def backward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0002_initial")]
    operations = [migrations.RunPython(forward, backward)]
