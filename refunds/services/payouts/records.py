"""Reading a payout file is a privileged act: audited before the bytes leave (exporting the batch list is
audited by ``backoffice.services.exports.export_record``)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext

from backoffice.services.audit import staff_action_record
from wallet.models import User

from ...models import PayoutBatch
from ..errors import RefundRefused
from .common import DOWNLOAD_PERMISSION
from .release import payout_batch_file


def payout_batch_download(*, batch: PayoutBatch, acting_user: User, ip: str | None = None) -> bytes:
    """The file's bytes for a person (``refunds.download_payoutbatch``), with its StaffAction row."""
    if not acting_user.has_perm(DOWNLOAD_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, gettext("You are not allowed to download payout files."))
    content = payout_batch_file(batch=batch)
    with transaction.atomic():
        staff_action_record(
            acting_user=acting_user,
            action="payout_batch.download",
            target=batch,
            after={"file": batch.file_name, "sha256": batch.file_sha256, "bytes": len(content), "state": batch.state},
            ip=ip,
        )
    return content
