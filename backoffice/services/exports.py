"""Exports are privileged acts: customers' emails, names and amounts leave the system.

Every CSV a staff member downloads (audit log, review queue, cases, hunts, compensation,
refund claims, reports, payout batches) is recorded here, before the file is sent, with
what was exported, the filters and the row count."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import models, transaction

from wallet.models import User

from ..models import StaffAction
from .audit import staff_action_record

# How much of the query string the audit row keeps.
FILTERS_KEPT = 500


def export_record(
    *,
    acting_user: User,
    what: str,
    filters: str,
    row_count: int,
    ip: str | None = None,
    permission: str | None = None,
    target: models.Model | None = None,
) -> StaffAction:
    """Write the StaffAction row of an export; ``what`` is its ``action`` (``"case.export"``, ``"refund.export_claims"``…).

    ``permission``, when given, is checked here as well as on the page, so no caller can
    export without it (refused with ``PermissionDenied``, a 403, and nothing recorded).
    ``target`` is the one object exported from, when there is one (a hunt)."""
    if not what:
        raise ValueError("an export needs a name")
    if permission is not None and not acting_user.has_perm(permission):
        raise PermissionDenied(f"{permission} permission required")
    with transaction.atomic():
        return staff_action_record(
            acting_user=acting_user,
            action=what,
            target=target,
            after={"filters": filters[:FILTERS_KEPT], "rows": row_count},
            ip=ip,
        )
