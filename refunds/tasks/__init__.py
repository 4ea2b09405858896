"""Celery tasks of the refund programme: thin wrappers that take ids, call a service and are safe to run twice."""

from .payouts import payout_batch_deliver_task, payout_batches_build, payout_deliveries_sweep
from .programme import programme_deadlines, shutdown_notices_queue

__all__ = [
    "payout_batch_deliver_task",
    "payout_batches_build",
    "payout_deliveries_sweep",
    "programme_deadlines",
    "shutdown_notices_queue",
]
