"""Reads shared by the back-office views and admin."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Exists, OuterRef, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet.csv_export import csv_safe as csv_safe  # re-exported: the selectors and refunds import it from here
from wallet.models import BackupCodeDevice, ChannelSwitchChange, User

from ..models import StaffAction

STAFF_ACTION_CSV_HEADER = ["id", "created_at", "actor", "action", "target_type", "target_id", "target", "reason", "ip", "before", "after"]


def users_with_factor_flags(queryset: QuerySet[User]) -> QuerySet[User]:
    """Annotate ``has_totp`` and ``has_backup_codes`` without loading any secret."""
    return queryset.annotate(
        has_totp=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        has_backup_codes=Exists(BackupCodeDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
    )


def channel_switch_history(*, name: str, limit: int = 20) -> QuerySet[ChannelSwitchChange]:
    return ChannelSwitchChange.objects.filter(switch__name=name).select_related("changed_by").order_by("-changed_at", "-id")[:limit]


def staff_action_csv_rows(queryset: QuerySet[StaffAction]) -> Iterator[list[str]]:
    """Header, then one row per action in id order, read in chunks so a large export streams."""
    import json

    yield STAFF_ACTION_CSV_HEADER
    for row in queryset.select_related("actor").order_by("id").iterator(chunk_size=2000):
        yield [
            csv_safe(v)
            for v in (
                row.pk,
                row.created_at.isoformat(),
                row.actor.email if row.actor else "",
                row.action,
                row.target_type,
                row.target_id,
                row.target_repr,
                row.reason,
                row.ip or "",
                json.dumps(row.before, ensure_ascii=False, sort_keys=True),
                json.dumps(row.after, ensure_ascii=False, sort_keys=True),
            )
        ]
