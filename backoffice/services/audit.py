from __future__ import annotations

from typing import Any

from django.db import models, transaction

from wallet.field_length import fit
from wallet.models import User

from ..models import StaffAction


def staff_action_record(
    *,
    acting_user: User | None,
    action: str,
    target: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    ip: str | None = None,
) -> StaffAction:
    """Write the audit row. Must run inside the transaction of the act it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("staff_action_record must be called inside the transaction of the act")
    return StaffAction.objects.create(
        actor=acting_user,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=fit(StaffAction, "target_repr", str(target)) if target is not None else "",
        before=before or {},
        after=after or {},
        reason=reason,
        ip=ip,
    )
