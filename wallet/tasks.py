from __future__ import annotations

from celery import shared_task

from .services.notifications import notifications_relay_due


@shared_task(name="wallet.tasks.notifications_relay", ignore_result=True)
def notifications_relay() -> int:
    """Deliver due outbox rows. Runs after each commit that queues mail and on a beat
    schedule as a safety net; two copies at once skip each other's locked rows."""
    return notifications_relay_due()
