"""The compensation approval's executor, and the release of rows whose approval was
rejected or ran out.

``compensation_execute`` runs inside the approval's transaction (``approvals._decide``),
with the approval, the cases and the compensation rows locked. It pays every wallet
credit there (ledger only, no network) and makes no gateway call: a card refund
stays "requested" under the now approved approval (``refunds_pending_q``), and once
the approval commits, ``execute.compensation_refunds_send`` sends each to the
gateway outside any transaction and posts the answer in a transaction of its own.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from wallet.models import LedgerAccount, TopUp, Transfer, User
from wallet.services.ledger import Leg, system_account, transfer_post, wallet_locked_for

from ...errors import ApprovalRefused
from ...models import Approval, Case, Compensation
from ...selectors.compensation import stale_requested_q
from ..audit import staff_action_record
from .execute import case_settle, compensation_audit, compensation_refunds_send, mark_failed, mark_paid, notify_settled

PAYLOAD_KEYS = {"cases", "compensations", "total_yen", "hunt"}


def compensation_validate(payload: dict[str, Any]) -> None:
    """Approval executor check: the payload lists rows just requested and not yet in any approval."""
    ids = payload.get("compensations")
    if (
        not set(payload) <= PAYLOAD_KEYS
        or not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        or len(set(ids)) != len(ids)
    ):
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("The request must list the compensations to pay."))
    rows = Compensation.objects.filter(pk__in=ids)
    if (
        rows.count() != len(ids)
        or rows.exclude(state=Compensation.State.REQUESTED).exists()
        or rows.filter(approval__isnull=False).exists()
    ):
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("These compensations cannot be requested again."))
    if payload.get("total_yen") != sum(rows.values_list("amount_yen", flat=True)):
        raise ApprovalRefused(ApprovalRefused.Code.INVALID_PAYLOAD, gettext("The total does not match the compensations."))


def compensation_execute(approval: Approval, checker: User, ip: str | None) -> None:
    """Approval executor, inside the approval's transaction: credit the wallets, and hand
    the card refunds to ``compensation_refunds_send`` for after the commit.

    A card refund whose top-up has no gateway charge fails here (no money moved for
    it). The customer's mail for a case goes once nothing of it waits for the gateway,
    and the case moves on then too (``case_settle``).
    """
    ids = approval.payload["compensations"]
    case_ids = sorted(set(Compensation.objects.filter(pk__in=ids).values_list("case_id", flat=True)))
    cases = list(Case.objects.select_for_update().select_related("customer").filter(pk__in=case_ids).order_by("pk"))
    rows = list(
        Compensation.objects.select_for_update(of=("self",))
        .select_related("customer", "case")
        .filter(pk__in=ids, approval=approval)
        .order_by("pk")
    )
    due = [row for row in rows if row.state == Compensation.State.REQUESTED]
    if not due:
        raise ApprovalRefused(ApprovalRefused.Code.NOTHING_DUE, gettext("Nothing in this request is waiting to be paid any more."))
    charged = dict(
        TopUp.objects.filter(transfer_id__in=[r.fraud_transfer_id for r in due if r.method == Compensation.Method.CARD_REFUND])
        .exclude(gateway_charge_id="")
        .values_list("transfer_id", "gateway_charge_id")
    )
    to_send = []
    for row in due:
        if row.method == Compensation.Method.CARD_REFUND:
            if row.fraud_transfer_id in charged:
                to_send.append(row.pk)  # stays "requested": sent to the gateway after the commit
                continue
            mark_failed(row, "unknown_charge")
        else:
            _pay_ledger(row, checker=checker)
        row.save(update_fields=["state", "paid_transfer", "paid_at", "gateway_refund_id", "failure"])
        compensation_audit(row, approval=approval, checker=checker, from_wallet_yen=0, ip=ip)
    if to_send:
        staff_action_record(
            acting_user=checker,
            action="compensation.refund_send",
            target=approval,
            after={"compensations": to_send, "approval": approval.pk},
            reason=approval.reason,
            ip=ip,
        )
        # After the commit and outside any transaction; a crash before it is caught up by the sweep.
        transaction.on_commit(partial(compensation_refunds_send, approval_id=approval.pk, ip=ip), robust=True)
    note = gettext("Approval #%(approval)s carried out.") % {"approval": approval.pk}
    for case in cases:
        notify_settled(approval=approval, case_id=case.pk)
        case_settle(case, actor=checker, note=note, ip=ip)


def _pay_ledger(row: Compensation, *, checker: User) -> None:
    amount = row.amount_yen
    customer_wallet = wallet_locked_for(row.customer)
    transfer = transfer_post(
        kind=Transfer.Kind.COMPENSATION,
        legs=[Leg(system_account(LedgerAccount.Kind.COMPENSATION_EXPENSE), -amount), Leg(customer_wallet, amount)],
        idempotency_key=f"compensation:{row.pk}",
        description=f"Compensation for case #{row.case_id}",
        acting_user=checker,
        honour_freezes=False,
    )
    mark_paid(row, transfer)


# -- releasing rows of rejected or expired approvals ---------------------------------------------------


def compensations_release_stale() -> int:
    """Mark "rejected" the requested rows whose approval was rejected or expired, so
    the transactions can be requested again; returns how many were released.

    Safe to run twice or in parallel: approvals being decided right now are skipped
    (their row lock is held) and only rows still "requested" change. One transaction
    per approval, so a caller must not wrap it.
    """
    candidates = set(
        Compensation.objects.filter(stale_requested_q()).exclude(approval=None).values_list("approval_id", flat=True).distinct()
    )
    released = 0
    for approval_id in sorted(candidates):
        with transaction.atomic(durable=True):
            approval = (
                Approval.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("maker", "checker")
                .filter(pk=approval_id, kind=Approval.Kind.COMPENSATION)
                .first()
            )
            if approval is None:
                continue
            rows = Compensation.objects.filter(stale_requested_q(), approval=approval)
            case_ids = sorted(set(rows.values_list("case_id", flat=True)))
            cases = list(Case.objects.select_for_update().filter(pk__in=case_ids).order_by("pk"))
            ids = list(rows.select_for_update(of=("self",)).values_list("pk", flat=True))
            if not ids:
                continue
            rejected = approval.state == Approval.State.REJECTED
            Compensation.objects.filter(pk__in=ids).update(
                state=Compensation.State.REJECTED, failure="approval_rejected" if rejected else "approval_expired"
            )
            staff_action_record(
                acting_user=None,
                action="compensation.release",
                target=approval,
                after={"compensations": ids, "approval_state": approval.state if rejected else Approval.State.EXPIRED},
            )
            # The case history names the person who rejected; an expired request, the person who made it.
            actor = approval.checker if rejected and approval.checker is not None else approval.maker
            note = (
                gettext("Compensation rejected (approval #%(approval)s).")
                if rejected
                else gettext("Compensation request expired (approval #%(approval)s).")
            ) % {"approval": approval.pk}
            for case in cases:
                case_settle(case, actor=actor, note=note)
            released += len(ids)
    return released
