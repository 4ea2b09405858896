"""Compensation's periodic jobs: recording issuers' chargebacks, and the sweep that
releases the rows of rejected or expired approvals and asks the gateway again about
card refunds it has not answered. All are safe to run twice or at once."""

from __future__ import annotations

import logging

from celery import shared_task

from wallet.adapters.cards import GatewayError
from wallet.services.card_reversals import card_reversals_sync

from ..services.compensation import compensation_refunds_retry, compensations_release_stale

logger = logging.getLogger(__name__)


@shared_task(name="backoffice.tasks.card_reversals_sync", ignore_result=True)
def card_reversals_sync_task() -> int:
    """Record the card reversals (chargebacks) the gateway reports, so they are never compensated."""
    try:
        return card_reversals_sync()
    except GatewayError as exc:
        # The next run asks again from the same point; nothing is lost by waiting.
        logger.warning("card reversals not synced, the gateway could not be asked: %s", exc)
        return 0


@shared_task(name="backoffice.tasks.compensations_release_stale", ignore_result=True)
def compensations_release_stale_task() -> int:
    """Free the transactions of rejected or expired compensation approvals for a new request,
    and settle approved card refunds left unanswered (same idempotency key, so never paid twice).
    Returns how many rows were released or settled."""
    return compensations_release_stale() + compensation_refunds_retry()
