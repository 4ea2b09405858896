"""Delivering released files through the bank-delivery adapter.

The adapter is idempotent by (file name, SHA-256), and the batch moves released →
delivered by a compare-and-set after the adapter returns, so this is safe to run
twice and at once (a redelivered task, the sweep beside the task, T5/T6): the file
reaches the bank once and the batch is marked once. No row lock is held while the
adapter talks to the bank. A failure is counted on the batch (``delivery_attempts``,
``last_delivery_error``) and retried by the sweep every five minutes.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from backoffice.services.audit import staff_action_record
from wallet.field_length import fit
from wallet.services.switches import channel_is_enabled

from ...adapters.bank_delivery import bank_delivery
from ...models import PayoutBatch
from .release import payout_batch_file

logger = logging.getLogger(__name__)


def payout_deliveries_pending() -> list[int]:
    """Ids of released batches not yet delivered, oldest first."""
    return list(PayoutBatch.objects.filter(state=PayoutBatch.State.RELEASED).order_by("pk").values_list("pk", flat=True))


def _failed(batch_id: int, error: str) -> None:
    PayoutBatch.objects.filter(pk=batch_id, state=PayoutBatch.State.RELEASED).update(
        delivery_attempts=F("delivery_attempts") + 1, last_delivery_error=fit(PayoutBatch, "last_delivery_error", error)
    )


def _reloaded(batch_id: int) -> PayoutBatch:
    return PayoutBatch.objects.defer("file_content").get(pk=batch_id)


def payout_batch_deliver(*, batch_id: int) -> PayoutBatch | None:
    """Send a released batch's file and mark it delivered; returns the batch (None if there is no such batch).

    A batch that is not released yet, or already delivered, is returned unchanged."""
    batch = PayoutBatch.objects.filter(pk=batch_id).first()
    if batch is None or batch.state != PayoutBatch.State.RELEASED:
        return batch
    if batch.method == PayoutBatch.Method.BANK and not channel_is_enabled("payout.bank"):
        # Switched off after the release: hold the file back, without counting a failure, until it is on again.
        PayoutBatch.objects.filter(pk=batch_id, state=PayoutBatch.State.RELEASED).update(
            last_delivery_error=fit(PayoutBatch, "last_delivery_error", gettext("Waiting: bank payouts (payout.bank) are switched off."))
        )
        return _reloaded(batch_id)
    try:
        content = payout_batch_file(batch=batch)
        reference = bank_delivery().deliver(batch.file_name, content, batch.file_sha256)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried by the sweep
        logger.warning("delivery of payout batch %s failed: %s", batch_id, exc)
        _failed(batch_id, f"{type(exc).__name__}: {exc}")
        return _reloaded(batch_id)
    with transaction.atomic():
        marked = PayoutBatch.objects.filter(pk=batch_id, state=PayoutBatch.State.RELEASED).update(
            state=PayoutBatch.State.DELIVERED,
            delivered_at=timezone.now(),
            delivery_reference=fit(PayoutBatch, "delivery_reference", reference),
            delivery_attempts=F("delivery_attempts") + 1,
            last_delivery_error="",
        )
        if marked:
            batch.refresh_from_db(fields=["state", "delivered_at", "delivery_reference", "delivery_attempts", "last_delivery_error"])
            staff_action_record(
                acting_user=None,
                action="payout_batch.deliver",
                target=batch,
                before={"state": PayoutBatch.State.RELEASED},
                after={"state": batch.state, "reference": batch.delivery_reference, "sha256": batch.file_sha256},
            )
    return _reloaded(batch_id)
