"""Celery tasks of the mass password reset (how the job survives a killed worker is in
``backoffice.services.mass_reset``'s docstring).

- ``mass_reset_run``: one lane for up to ``MASS_RESET_SLICE_SECONDS``, then it queues
  its own continuation, so a lane never holds a worker for the whole job and other
  bulk work gets a turn. Acknowledged late: a lane lost with its worker is
  redelivered, and running it twice is harmless.
- ``mass_reset_watchdog``: on the beat (``CELERY_BEAT_SCHEDULE``) and once when a
  worker starts: marks requests whose approval was refused or expired, starts
  lanes for jobs with a stale heartbeat (a starting worker does it for every
  queued or running job), wakes the notice sender and keeps the login's "did AnzenPay
  reset your password?" notice in the cache.
- ``mass_reset_notices_send``: delivers due notices at the paced rate, one sender
  at a time (a short lease in the cache), and queues itself again while notices
  are pending.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.cache import cache

from config.queues import BULK_QUEUE, NOTIFICATIONS_QUEUE

from ..services.mass_reset import (
    LANES,
    mass_reset_login_notice_keep,
    mass_reset_notices_pending,
    mass_reset_notices_send,
    mass_reset_run,
    mass_resets_decisions_reconcile,
    mass_resets_stalled,
)

logger = logging.getLogger(__name__)

SLICE_SECONDS = float(settings.MASS_RESET_SLICE_SECONDS)
NOTICES_SLICE_SECONDS = 50.0
NOTICES_LEASE = "backoffice:mass_reset:notices_sender"
# A sender that dies keeps the lease this long at most.
NOTICES_LEASE_SECONDS = int(NOTICES_SLICE_SECONDS + 60)
# Wake up at least this often while notices are pending, however far away the next one is.
NOTICES_MAX_SLEEP_SECONDS = 300


# Queues (config/queues.py) are named where each task is sent (a task's own ``queue`` attribute is deprecated
# in Celery 5); CELERY_TASK_ROUTES names them too, for the beat.


@shared_task(name="backoffice.tasks.mass_reset_run", acks_late=True, ignore_result=True)
def mass_reset_run_task(mass_reset_id: int) -> str:
    """One lane of a mass reset for a time slice. Safe to run twice: lanes coordinate in the database."""
    outcome = mass_reset_run(mass_reset_id=mass_reset_id, seconds=SLICE_SECONDS)
    if outcome == "continue":
        mass_reset_run_task.apply_async(args=(mass_reset_id,), queue=BULK_QUEUE)
    logger.info("mass reset %s lane: %s", mass_reset_id, outcome)
    return outcome


def mass_reset_lanes_start(mass_reset_id: int, lanes: int = LANES) -> None:
    """Queue the lanes of a job (after approval, on resume, from the watchdog)."""
    for _lane in range(lanes):
        mass_reset_run_task.apply_async(args=(mass_reset_id,), queue=BULK_QUEUE)


@shared_task(name="backoffice.tasks.mass_reset_watchdog", ignore_result=True)
def mass_reset_watchdog_task(stale_seconds: int | None = None) -> int:
    """Restart stalled jobs and the notice sender; mark refused requests; keep the login's reset notice.
    Safe to run any number of times."""
    mass_resets_decisions_reconcile()
    mass_reset_login_notice_keep()
    stale_after = None if stale_seconds is None else timedelta(seconds=stale_seconds)
    stalled = mass_resets_stalled() if stale_after is None else mass_resets_stalled(stale_after=stale_after)
    for mass_reset_id in stalled:
        logger.warning("mass reset %s: no lane at work, starting lanes again", mass_reset_id)
        mass_reset_lanes_start(mass_reset_id)
    if mass_reset_notices_pending():
        notices_sender_start()
    return len(stalled)


def notices_sender_start(countdown: float = 0) -> None:
    mass_reset_notices_send_task.apply_async(countdown=countdown, queue=NOTIFICATIONS_QUEUE)


@shared_task(bind=True, name="backoffice.tasks.mass_reset_notices_send", ignore_result=True)
def mass_reset_notices_send_task(self: Any) -> int:
    """Send due mass-reset notices at the paced rate for a while, then hand over to the next run."""
    eager = bool(self.request.is_eager)
    if not eager and not cache.add(NOTICES_LEASE, self.request.id or "sender", timeout=NOTICES_LEASE_SECONDS):
        return 0
    try:
        # Run inline (tests, the embedded default) it sends what is due and never waits.
        result = mass_reset_notices_send(seconds=0 if eager else NOTICES_SLICE_SECONDS)
    finally:
        if not eager:
            cache.delete(NOTICES_LEASE)
    if result.next_due_in is not None and not eager:
        notices_sender_start(countdown=min(result.next_due_in, NOTICES_MAX_SLEEP_SECONDS))
    return result.sent


@worker_ready.connect
def _lanes_resume_on_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts may replace one that was killed holding lanes: restart every active job now
    rather than when its heartbeat goes stale (lanes already at work make the extra ones leave)."""
    mass_reset_watchdog_task.apply_async(kwargs={"stale_seconds": 0}, queue=BULK_QUEUE)
