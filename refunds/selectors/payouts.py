"""Reads of payout batches for the refund desk: the batch list with its filters and CSV,
one batch with its payouts (search by claim number, paged), and the results imports.

The stored file (up to ~15 MB for 120,000 payouts) is never loaded by these reads:
every batch query defers ``file_content``; only the audited download reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from backoffice.models import Approval
from backoffice.selectors.general import csv_safe

from ..models import Payout, PayoutBatch, PayoutResultImport
from ..services.payouts.common import batch_state_effective

CLAIM_NUMBER = re.compile(r"^R?(\d{10})$", re.IGNORECASE)
BATCH_CSV_HEADER = [
    "batch",
    "method",
    "state",
    "transfer_date",
    "payouts",
    "total_yen",
    "file_name",
    "sha256",
    "built_at",
    "built_by",
    "release_requested_by",
    "release_approval",
    "released_by",
    "released_at",
    "delivered_at",
    "delivery_reference",
    "delivery_attempts",
    "last_delivery_error",
]


@dataclass(frozen=True)
class BatchFilters:
    method: str = ""
    state: str = ""


def _stale_release() -> Q:
    """Release requested, but its approval was rejected or expired (see ``release_is_stale``)."""
    return Q(state=PayoutBatch.State.RELEASE_REQUESTED) & (
        Q(release_approval__isnull=True)
        | Q(release_approval__state__in=[Approval.State.REJECTED, Approval.State.EXPIRED])
        | Q(release_approval__state=Approval.State.PENDING, release_approval__expires_at__lte=timezone.now())
    )


def payout_batches(filters: BatchFilters | None = None) -> QuerySet[PayoutBatch]:
    filters = filters or BatchFilters()
    batches = (
        PayoutBatch.objects.defer("file_content")
        .select_related("release_approval", "release_requested_by", "released_by", "built_by")
        .order_by("-built_at", "-id")
    )
    if filters.method:
        batches = batches.filter(method=filters.method)
    if filters.state == PayoutBatch.State.AWAITING_RELEASE:
        batches = batches.filter(Q(state=PayoutBatch.State.AWAITING_RELEASE) | _stale_release())
    elif filters.state == PayoutBatch.State.RELEASE_REQUESTED:
        batches = batches.filter(state=PayoutBatch.State.RELEASE_REQUESTED).exclude(_stale_release())
    elif filters.state:
        batches = batches.filter(state=filters.state)
    return batches


def payout_batch_get(pk: int) -> PayoutBatch | None:
    return (
        PayoutBatch.objects.defer("file_content")
        .select_related("release_approval", "release_approval__maker", "release_requested_by", "released_by", "built_by", "transfer")
        .filter(pk=pk)
        .first()
    )


def payout_batch_with_file(pk: int) -> PayoutBatch | None:
    """The batch with its stored file, for the audited download only."""
    return PayoutBatch.objects.filter(pk=pk).first()


@dataclass(frozen=True)
class StateCount:
    state: str
    label: str
    count: int
    total_yen: int


def payout_state_counts(batch: PayoutBatch) -> list[StateCount]:
    """Payouts of the batch per state (paid, returned, ...), in the order of the state list."""
    rows = {
        row["state"]: row
        for row in Payout.objects.filter(batch=batch).values("state").annotate(count=Count("pk"), total=Sum("amount_yen")).order_by()
    }
    return [
        StateCount(state=state, label=str(label), count=rows[state]["count"], total_yen=rows[state]["total"] or 0)
        for state, label in Payout.State.choices
        if state in rows
    ]


def batch_payouts(batch: PayoutBatch, q: str = "") -> QuerySet[Payout]:
    """The batch's payouts in file order; ``q`` is a claim number (R and ten digits, R optional) or a payout id."""
    payouts = Payout.objects.filter(batch=batch).select_related("claim", "bank_details", "postal_details").order_by("pk")
    q = (q or "").strip()
    if not q:
        return payouts
    match = CLAIM_NUMBER.match(q)
    if match:
        return payouts.filter(claim__number=f"R{match.group(1)}")
    if q.isascii() and q.isdigit() and len(q) <= 10:
        return payouts.filter(pk=int(q))
    return payouts.none()


def batch_effective_state(batch: PayoutBatch) -> str:
    return batch_state_effective(batch)


def payout_batches_csv_rows(batches: QuerySet[PayoutBatch]) -> Iterator[list[str]]:
    yield BATCH_CSV_HEADER
    for batch in batches.iterator(chunk_size=500):
        yield [
            csv_safe(value)
            for value in (
                batch.pk,
                batch.method,
                batch_state_effective(batch),
                batch.transfer_date.isoformat(),
                batch.payout_count,
                batch.total_yen,
                batch.file_name,
                batch.file_sha256,
                batch.built_at.isoformat(),
                batch.built_by.email if batch.built_by else "",
                batch.release_requested_by.email if batch.release_requested_by else "",
                batch.release_approval_id or "",
                batch.released_by.email if batch.released_by else "",
                batch.released_at.isoformat() if batch.released_at else "",
                batch.delivered_at.isoformat() if batch.delivered_at else "",
                batch.delivery_reference,
                batch.delivery_attempts,
                batch.last_delivery_error,
            )
        ]


def payout_result_imports(limit: int = 20) -> list[PayoutResultImport]:
    return list(PayoutResultImport.objects.defer("content").select_related("imported_by").order_by("-imported_at", "-id")[:limit])


def payout_result_import_get(pk: int) -> PayoutResultImport | None:
    return PayoutResultImport.objects.defer("content").select_related("imported_by").filter(pk=pk).first()


def payout_result_import_returns(result: PayoutResultImport) -> QuerySet[Payout]:
    """The payouts this file reported returned, with their claims (the customers asked to correct)."""
    return Payout.objects.filter(result_import=result, state=Payout.State.RETURNED).select_related("claim", "batch").order_by("pk")
