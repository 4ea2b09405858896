"""Releasing a batch: one finance user asks, a second finance user approves (B04).

The request is a back-office ``Approval`` of kind PAYOUT_RELEASE whose checker needs
``refunds.release_payoutbatch`` (not a supervisor's ``check_approval``): finance checks
finance. Maker ≠ checker is enforced by the approvals service and the database.

Approving runs ``payout_release_execute`` inside the approval's transaction: the
stored file's SHA-256 is checked, the ``payout.bank`` channel for bank batches, one
ledger transfer moves the batch total from refund_payable to payout_clearing (its
idempotency key is the batch), the payouts become ``sent`` and the batch
``released``. The delivery task is published after commit; if that publish is lost,
the sweep (``payout_deliveries_sweep``) delivers it (T6).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from backoffice.errors import ApprovalRefused
from backoffice.models import Approval
from backoffice.services.approvals import Executor, approval_executor_register, approval_request
from backoffice.services.audit import staff_action_record
from wallet.models import Transfer, User
from wallet.services.ledger import Leg, MoneyError, system_account, transfer_post
from wallet.services.switches import channel_check
from wallet.switches import ChannelDisabled

from ...models import Payout, PayoutBatch
from ..errors import RefundRefused
from .common import RELEASE_PERMISSION, PayoutFileCorrupt, batch_state_effective, release_is_stale, sha256_hex

logger = logging.getLogger(__name__)


def payout_batch_file(*, batch: PayoutBatch) -> bytes:
    """The stored file, after checking it still has the SHA-256 it was built with."""
    content = bytes(batch.file_content)
    if not batch.file_sha256 or sha256_hex(content) != batch.file_sha256:
        raise PayoutFileCorrupt(batch)
    return content


def payout_batch_release_request(*, batch: PayoutBatch, acting_user: User, reason: str, ip: str | None = None) -> Approval:
    """Ask a second finance user to release the batch. Raises ``RefundRefused`` and changes nothing when refused."""
    if not acting_user.has_perm(RELEASE_PERMISSION):
        raise RefundRefused(RefundRefused.Code.NOT_ALLOWED, gettext("You are not allowed to release payout files."))
    reason = reason.strip()
    if not reason:
        raise RefundRefused(RefundRefused.Code.NO_REASON, gettext("Say why this batch should be released; the approver reads it."))
    with transaction.atomic():
        locked = PayoutBatch.objects.select_for_update(of=("self",)).select_related("release_approval").get(pk=batch.pk)
        stale = release_is_stale(locked)
        if batch_state_effective(locked) != PayoutBatch.State.AWAITING_RELEASE:
            if locked.state == PayoutBatch.State.RELEASE_REQUESTED:
                raise RefundRefused(
                    RefundRefused.Code.ALREADY_REQUESTED, gettext("The release of this batch is already waiting for a second person.")
                )
            raise RefundRefused(
                RefundRefused.Code.NOT_AWAITING_RELEASE,
                gettext("This batch is no longer waiting for release (%(state)s).") % {"state": locked.get_state_display()},
            )
        payout_batch_file(batch=locked)
        try:
            approval = approval_request(
                kind=Approval.Kind.PAYOUT_RELEASE, payload={"batch": locked.pk}, reason=reason, maker=acting_user, ip=ip
            )
        except ApprovalRefused as exc:
            raise RefundRefused(exc.code, exc.message) from exc
        previous = locked.release_approval_id
        locked.state = PayoutBatch.State.RELEASE_REQUESTED
        locked.release_requested_by = acting_user
        locked.release_approval = approval
        locked.save(update_fields=["state", "release_requested_by", "release_approval"])
        staff_action_record(
            acting_user=acting_user,
            action="payout_batch.release_request",
            target=locked,
            before={"state": PayoutBatch.State.AWAITING_RELEASE, "previous_approval": previous if stale else None},
            after={"state": locked.state, "approval": approval.pk, "sha256": locked.file_sha256, "total_yen": locked.total_yen},
            reason=reason,
            ip=ip,
        )
    batch.state, batch.release_approval, batch.release_requested_by = locked.state, approval, acting_user
    return approval


def payout_release_validate(payload: dict[str, Any]) -> None:
    batch_id = payload.get("batch")
    if set(payload) != {"batch"} or not isinstance(batch_id, int) or isinstance(batch_id, bool):
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("The request must name one payout batch."))
    batch = PayoutBatch.objects.select_related("release_approval").defer("file_content").filter(pk=batch_id).first()
    if batch is None:
        raise ApprovalRefused(ApprovalRefused.Code.NO_BATCH, gettext("There is no such payout batch."))
    if batch.state not in (PayoutBatch.State.AWAITING_RELEASE, PayoutBatch.State.RELEASE_REQUESTED):
        raise ApprovalRefused(
            ApprovalRefused.Code.NOT_AWAITING_RELEASE,
            gettext("This batch is no longer waiting for release (%(state)s).") % {"state": batch.get_state_display()},
        )


def _publish_delivery(batch_id: int) -> None:
    from ...tasks.payouts import payout_batch_deliver_task

    payout_batch_deliver_task.delay(batch_id)


def payout_release_execute(approval: Approval, checker: User, ip: str | None) -> None:
    """Carry out an approved release, inside the approval's transaction (an ``ApprovalRefused`` undoes it all)."""
    payout_release_validate(approval.payload)
    batch = PayoutBatch.objects.select_for_update().get(pk=approval.payload["batch"])
    if batch.state != PayoutBatch.State.RELEASE_REQUESTED or batch.release_approval_id != approval.pk:
        raise ApprovalRefused(ApprovalRefused.Code.NOT_THIS_REQUEST, gettext("This batch is not waiting for this request's approval."))
    try:
        payout_batch_file(batch=batch)
    except PayoutFileCorrupt as exc:
        raise ApprovalRefused(exc.code, exc.message) from exc
    if batch.method == PayoutBatch.Method.BANK:
        try:
            channel_check("payout.bank")
        except ChannelDisabled as exc:
            raise ApprovalRefused(
                ApprovalRefused.Code.CHANNEL_OFF,
                gettext("Bank payouts are switched off (payout.bank): %(reason)s") % {"reason": exc.reason or exc.message},
            ) from exc
    sums = Payout.objects.filter(batch=batch, state=Payout.State.SCHEDULED).aggregate(count=Count("pk"), total=Sum("amount_yen"))
    if (sums["count"], sums["total"] or 0) != (batch.payout_count, batch.total_yen) or batch.total_yen <= 0:
        raise ApprovalRefused(
            ApprovalRefused.Code.BATCH_CHANGED, gettext("The batch's payouts no longer match its file; nothing was released.")
        )
    try:
        transfer = transfer_post(
            kind=Transfer.Kind.REFUND_PAYOUT,
            legs=[Leg(system_account("refund_payable"), -batch.total_yen), Leg(system_account("payout_clearing"), batch.total_yen)],
            idempotency_key=f"payout_batch:{batch.pk}",
            description=f"Payout batch {batch.pk} released ({batch.payout_count} payouts, {batch.method})",
            acting_user=checker,
        )
    except MoneyError as exc:
        raise ApprovalRefused(exc.code, exc.message) from exc
    now = timezone.now()
    sent = Payout.objects.filter(batch=batch, state=Payout.State.SCHEDULED).update(state=Payout.State.SENT)
    batch.state = PayoutBatch.State.RELEASED
    batch.released_by = checker
    batch.released_at = now
    batch.transfer = transfer
    batch.save(update_fields=["state", "released_by", "released_at", "transfer"])
    staff_action_record(
        acting_user=checker,
        action="payout_batch.release",
        target=batch,
        before={"state": PayoutBatch.State.RELEASE_REQUESTED},
        after={
            "state": batch.state,
            "approval": approval.pk,
            "maker": approval.maker.email,
            "payouts": sent,
            "total_yen": batch.total_yen,
            "sha256": batch.file_sha256,
            "transfer": transfer.pk,
        },
        reason=approval.reason,
        ip=ip,
    )
    # Robust: a broker that is down must not undo a committed release; the sweep delivers it.
    batch_id = batch.pk
    transaction.on_commit(lambda: _publish_delivery(batch_id), robust=True)


def _release_link(approval: Approval) -> tuple[str, str] | None:
    batch_id = approval.payload.get("batch")
    if not isinstance(batch_id, int):
        return None
    return gettext("See the payout batch and its file"), reverse("refunds_staff:payout_batch", args=[batch_id])


PAYOUT_RELEASE_EXECUTOR = Executor(
    request_permission=RELEASE_PERMISSION,
    validate=payout_release_validate,
    execute=payout_release_execute,
    check_permission=RELEASE_PERMISSION,
    subject_link=_release_link,
)


def register() -> None:
    approval_executor_register(Approval.Kind.PAYOUT_RELEASE, PAYOUT_RELEASE_EXECUTOR)
