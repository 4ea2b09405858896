from __future__ import annotations

from celery import shared_task

from ..services.programme import programme_claims_close_due, programme_notices_queue_batch, programme_service_end_due


@shared_task(name="refunds.tasks.shutdown_notices_queue", ignore_result=True)
def shutdown_notices_queue(programme_id: int) -> int:
    """Queue the holder notices batch by batch; each batch commits with its cursor, so a
    redelivered or re-run task continues after the last committed batch."""
    total = 0
    while True:
        progress = programme_notices_queue_batch(programme_id=programme_id)
        total += progress.queued
        if progress.done:
            return total


@shared_task(name="refunds.tasks.programme_deadlines", ignore_result=True)
def programme_deadlines() -> list[str]:
    """Every minute (beat): close the money channels at service end, the claim window at its end."""
    done = []
    if programme_service_end_due() is not None:
        done.append("service_end")
    if programme_claims_close_due() is not None:
        done.append("claims_close")
    return done
