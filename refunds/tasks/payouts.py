"""Payout tasks, on the ``payouts`` queue (config/settings.py routes ``refunds.tasks.payout*``).

Each takes ids or nothing, calls one service and is safe to run twice or at once:
the build holds an advisory lock and finds nothing left the second time; delivery
is idempotent at the adapter and a compare-and-set on the batch (T4, T5, T6).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.utils import timezone

from ..models import PayoutBatch
from ..services.payouts import payout_batch_build, payout_batch_deliver, payout_deliveries_pending
from ..zengin.calendar import is_bank_business_day

logger = logging.getLogger(__name__)


@shared_task(name="refunds.tasks.payout_batches_build", bind=True, ignore_result=True)
def payout_batches_build(self: Any, force: bool = False) -> list[int]:
    """The schedule (django-celery-beat, weekdays 09:00 Japan time by default): a batch per method.

    Skips days banks do not settle (national holidays, 12-31..01-03) unless ``force``;
    the crontab cannot know them. A method whose build fails does not stop the other."""
    today = timezone.localdate()
    if not force and not is_bank_business_day(today):
        logger.info("payout batches: %s is not a bank business day, nothing built", today.isoformat())
        return []
    task_id = str(getattr(self.request, "id", "") or "")
    built: list[int] = []
    failure: Exception | None = None
    for method in (PayoutBatch.Method.BANK, PayoutBatch.Method.POSTAL):
        try:
            batch = payout_batch_build(method=method, task_id=task_id)
        except Exception as exc:  # logged, the other method still runs, then re-raised
            logger.exception("payout batch build for %s failed", method)
            failure = failure or exc
            continue
        if batch is not None:
            built.append(batch.pk)
    if failure is not None:
        raise failure
    return built


@shared_task(name="refunds.tasks.payout_batch_deliver", ignore_result=True)
def payout_batch_deliver_task(batch_id: int) -> str:
    """Published after a release commits; the sweep repeats it for any batch still released."""
    batch = payout_batch_deliver(batch_id=batch_id)
    return batch.state if batch is not None else "missing"


@shared_task(name="refunds.tasks.payout_deliveries_sweep", ignore_result=True)
def payout_deliveries_sweep() -> int:
    """Every 5 minutes (beat): released batches not delivered yet, e.g. the process died between commit and publish (T6)."""
    delivered = 0
    for batch_id in payout_deliveries_pending():
        batch = payout_batch_deliver(batch_id=batch_id)
        if batch is not None and batch.state == PayoutBatch.State.DELIVERED:
            delivered += 1
    return delivered
