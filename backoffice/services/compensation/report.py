"""The audit row of a compensation export (the reads themselves are in ``backoffice.selectors.compensation``)."""

from __future__ import annotations

from django.db import transaction

from wallet.models import User

from ..audit import staff_action_record


def compensation_export_record(*, acting_user: User, what: str, filters: str, row_count: int, ip: str | None = None) -> None:
    """An export of compensation ("list": customers and amounts; "report": totals) is audited before the file is sent."""
    with transaction.atomic(durable=True):
        staff_action_record(
            acting_user=acting_user, action=f"compensation.export_{what}", after={"filters": filters[:500], "rows": row_count}, ip=ip
        )
