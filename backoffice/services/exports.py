"""Exports of back-office data are themselves privileged acts and are audited."""

from __future__ import annotations

from django.db import transaction

from wallet.models import User

from ..models import StaffAction
from .audit import staff_action_record


def staff_action_export_record(*, acting_user: User, filters: str, row_count: int, ip: str | None = None) -> StaffAction:
    """Record who exported which part of the audit log, before the file is sent."""
    if not acting_user.has_perm("backoffice.export_staffaction"):
        raise PermissionError("export_staffaction permission required")
    with transaction.atomic():
        return staff_action_record(
            acting_user=acting_user,
            action="staff_action.export",
            before={},
            after={"filters": filters[:500], "rows": row_count},
            ip=ip,
        )
