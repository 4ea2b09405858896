"""Paced sending of the notices a reset queues in the outbox."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.utils import timezone

from wallet.models import Notification
from wallet.services.notifications import notification_deliver

from ...selectors.mass_reset import NOTICE_KIND
from .tuning import NOTICES_PER_SECOND

# --- Notices ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticesSent:
    sent: int
    # Seconds until the next pending notice falls due; None when none is pending.
    next_due_in: float | None


def _notices_due() -> list[int]:
    return list(
        Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.PENDING, send_after__lte=timezone.now())
        .order_by("send_after", "id")
        .values_list("id", flat=True)[:100]
    )


def _next_notice_due_in() -> float | None:
    upcoming = (
        Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.PENDING)
        .order_by("send_after", "id")
        .values_list("send_after", flat=True)
        .first()
    )
    return None if upcoming is None else max((upcoming - timezone.now()).total_seconds(), 0.0)


def mass_reset_notices_send(*, seconds: float, per_second: float | None = None) -> NoticesSent:
    """Deliver mass-reset notices as they fall due, for up to ``seconds`` (0: what is due now, no waiting).

    Never faster than ``per_second`` (default twice the schedule's rate, so a
    backlog after an outage drains, but paced).
    """
    interval = 1.0 / (per_second or 2 * NOTICES_PER_SECOND)
    deadline = time.monotonic() + seconds
    sent = 0
    while True:
        due = _notices_due()
        if not due:
            wait = _next_notice_due_in()
            left = deadline - time.monotonic()
            if wait is None or wait > left or left <= 0:
                return NoticesSent(sent=sent, next_due_in=wait)
            time.sleep(max(wait, 0.05))
            continue
        for notification_id in due:
            began = time.monotonic()
            if notification_deliver(notification_id=notification_id):
                sent += 1
            pause = interval - (time.monotonic() - began)
            if pause > 0:
                time.sleep(pause)
            if seconds and time.monotonic() >= deadline:
                return NoticesSent(sent=sent, next_due_in=_next_notice_due_in())


def mass_reset_notices_pending() -> bool:
    return Notification.objects.filter(kind=NOTICE_KIND, status=Notification.Status.PENDING).exists()
