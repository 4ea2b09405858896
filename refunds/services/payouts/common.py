"""What the payout modules share: permissions, the release-state rule, file names and errors."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from django.utils.translation import gettext_lazy as _

from backoffice.models import Approval

from ...models import PayoutBatch
from ..errors import RefundRefused

# Finance asks for a release and a second finance user approves it (B04); both need this.
RELEASE_PERMISSION = "refunds.release_payoutbatch"
DOWNLOAD_PERMISSION = "refunds.download_payoutbatch"
IMPORT_PERMISSION = "refunds.import_payoutresults"
VIEW_PERMISSION = "refunds.view_payoutbatch"
# "Build a batch now" is a finance act; no role has add_payoutbatch, so the release right stands for it.
BUILD_PERMISSION = RELEASE_PERMISSION


class PayoutFileCorrupt(RefundRefused):
    """The stored file no longer matches the SHA-256 recorded when it was built: nothing may send it."""

    def __init__(self, batch: PayoutBatch) -> None:
        super().__init__(
            "file_corrupt",
            _("The stored file of batch %(batch)s does not match its SHA-256. Do not send it; report it to the lead engineer.")
            % {"batch": batch.pk},
        )


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def release_is_stale(batch: PayoutBatch, now: datetime | None = None) -> bool:
    """A batch whose release request was rejected or expired is waiting for release again.

    Approvals have no on-reject hook, so the batch row keeps ``release_requested``; every
    reader and the next release request use this rule instead of the raw state."""
    if batch.state != PayoutBatch.State.RELEASE_REQUESTED:
        return False
    approval = batch.release_approval
    if approval is None:
        return True
    if approval.state in (Approval.State.REJECTED, Approval.State.EXPIRED):
        return True
    return approval.state == Approval.State.PENDING and approval.is_expired(now)


def batch_state_effective(batch: PayoutBatch, now: datetime | None = None) -> str:
    """The state a person should see and act on (see ``release_is_stale``)."""
    return PayoutBatch.State.AWAITING_RELEASE if release_is_stale(batch, now) else batch.state


def batch_file_name(*, batch_id: int, method: str, transfer_date: date) -> str:
    """One name per batch (a unique constraint, and the delivery adapter refuses a reused name)."""
    if method == PayoutBatch.Method.BANK:
        return f"anzenpay-sogo-furikomi-{batch_id:06d}-{transfer_date:%Y%m%d}.txt"
    return f"anzenpay-japanpost-{batch_id:06d}-{transfer_date:%Y%m%d}.csv"
