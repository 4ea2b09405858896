"""Card refunds of approved compensation: mark → commit → call → post, as card top-ups do.

The approval's transaction (``approve.compensation_execute``) leaves each card
refund "requested" under the approved approval and commits. Then, outside any
transaction, ``compensation_refund_send`` asks the gateway to refund it with the
idempotency key ``compensation-refund:<fraudulent transfer id>``, and
``compensation_refund_post`` books the answer in a short transaction of its own:

- refunded: the ledger posting as before, the row paid;
- refused by the gateway: the row failed, no money moved;
- no answer (a timeout, or a process that died before or during the call): the
  row stays pending and ``compensation_refunds_retry`` (run by the compensation
  sweep) asks again with the same key, so the gateway replays the refund it may
  already have made rather than make a second one.

No row lock is held while the gateway is asked. What keeps two senders of one
refund apart is a PostgreSQL session advisory lock on the row's id (released at
the end, or when the connection dies); a second sender skips the row, and the
post books an answer only into a row still pending.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from wallet.adapters.cards import GatewayError, GatewayTimeout, get_card_gateway
from wallet.models import Entry, LedgerAccount, TopUp, Transfer, User
from wallet.services.ledger import Leg, system_account, transfer_post, wallet_locked_for
from wallet.services.notifications import notification_enqueue

from ...models import Approval, Case, Compensation
from ...selectors.compensation import refunds_pending_q
from ..audit import staff_action_record
from ..cases import case_status_set
from .plan import compensation_plan, unspent_card_topup_yen

logger = logging.getLogger(__name__)

# A refund still unanswered this long after its approval is asked about again by the sweep.
REFUND_RETRY_AFTER = timedelta(minutes=2)
RETRY_BATCH = 500


def refund_idempotency_key(row: Compensation) -> str:
    """Per fraudulent transaction, not per row: however often it is asked, the gateway refunds a charge once for us."""
    return f"compensation-refund:{row.fraud_transfer_id}"


def compensation_refunds_send(*, approval_id: int, ip: str | None = None) -> list[Compensation]:
    """After the approval's commit: send each of its pending card refunds to the gateway, one after the other."""
    ids = list(Compensation.objects.filter(refunds_pending_q(), approval_id=approval_id).order_by("pk").values_list("pk", flat=True))
    return [compensation_refund_send(compensation_id=pk, ip=ip) for pk in ids]


def compensation_refund_send(*, compensation_id: int, ip: str | None = None) -> Compensation:
    """Ask the gateway to refund one approved card compensation, then post its answer; returns the row.

    Outside any transaction (raises ``RuntimeError`` inside one). A row that is not
    pending, or that another sender is sending right now, is returned unchanged.
    """
    _outside_any_transaction()
    with _sole_sender(compensation_id) as sole:
        row = Compensation.objects.select_related("approval").get(pk=compensation_id)
        if not sole or not _pending(row):
            return row
        charge_id = TopUp.objects.filter(transfer_id=row.fraud_transfer_id).values_list("gateway_charge_id", flat=True).first() or ""
        try:
            result = get_card_gateway().refund(charge_id=charge_id, amount_yen=row.amount_yen, idempotency_key=refund_idempotency_key(row))
        except GatewayTimeout:
            logger.warning("card gateway timed out refunding compensation %s; the sweep will ask again", compensation_id)
            return row
        except GatewayError as exc:
            return compensation_refund_post(compensation_id=compensation_id, failure=f"gateway_error: {exc}", ip=ip)
        if not result.succeeded:
            return compensation_refund_post(compensation_id=compensation_id, failure=result.failure_code or "gateway_error", ip=ip)
        return compensation_refund_post(compensation_id=compensation_id, refund_id=result.refund_id, ip=ip)


def compensation_refund_post(*, compensation_id: int, refund_id: str = "", failure: str = "", ip: str | None = None) -> Compensation:
    """Book the gateway's answer for one pending card refund: ``refund_id`` when it refunded,
    ``failure`` when it refused. One transaction; an answer for a row no longer pending changes nothing."""
    if bool(refund_id) == bool(failure):
        raise ValueError("give either the gateway's refund id or its failure")
    case_id = Compensation.objects.values_list("case_id", flat=True).get(pk=compensation_id)
    with transaction.atomic(durable=True):
        # The order the executor locks in: cases, compensation rows, wallets.
        case = Case.objects.select_for_update().select_related("customer").get(pk=case_id)
        row = (
            Compensation.objects.select_for_update(of=("self",))
            .select_related("customer", "case", "approval", "approval__checker")
            .get(pk=compensation_id)
        )
        if not _pending(row):
            return row
        approval = row.approval
        assert approval is not None and approval.checker is not None  # pending: approved, so decided by someone
        checker = approval.checker
        from_wallet = 0
        if failure:
            mark_failed(row, failure)
        else:
            from_wallet = _book_card_refund(row, refund_id=refund_id, checker=checker)
        row.save(update_fields=["state", "paid_transfer", "paid_at", "gateway_refund_id", "failure"])
        compensation_audit(row, approval=approval, checker=checker, from_wallet_yen=from_wallet, ip=ip)
        notify_settled(approval=approval, case_id=case_id)
        case_settle(case, actor=checker, note=gettext("Approval #%(approval)s carried out.") % {"approval": approval.pk}, ip=ip)
    return row


def compensation_refunds_retry(*, older_than: timedelta = REFUND_RETRY_AFTER) -> int:
    """Ask the gateway again about card refunds still unanswered ``older_than`` after their
    approval (a timeout, or a crash between the approval's commit and the call), with
    the same idempotency key; returns how many were settled. Safe to run twice or at once."""
    cutoff = timezone.now() - older_than
    ids = list(
        Compensation.objects.filter(refunds_pending_q(), approval__executed_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:RETRY_BATCH]
    )
    settled = 0
    for pk in ids:
        if compensation_refund_send(compensation_id=pk).state != Compensation.State.REQUESTED:
            settled += 1
    return settled


# -- shared with the executor -------------------------------------------------------------------


def mark_paid(row: Compensation, transfer: Transfer) -> None:
    row.state = Compensation.State.PAID
    row.paid_transfer = transfer
    row.paid_at = timezone.now()
    row.failure = ""


def mark_failed(row: Compensation, failure: str) -> None:
    row.state = Compensation.State.FAILED
    row.failure = failure[:500]


def compensation_audit(row: Compensation, *, approval: Approval, checker: User, from_wallet_yen: int, ip: str | None) -> None:
    """The audit row of a paid or failed compensation, in the transaction that settled it."""
    staff_action_record(
        acting_user=checker,
        action="compensation.pay" if row.state == Compensation.State.PAID else "compensation.fail",
        target=row,
        before={"state": Compensation.State.REQUESTED},
        after={
            "state": row.state,
            "method": row.method,
            "amount_yen": row.amount_yen,
            "customer": row.customer.email,
            "case": row.case_id,
            "approval": approval.pk,
            "transfer": str(row.paid_transfer.public_id) if row.paid_transfer else None,
            "gateway_refund_id": row.gateway_refund_id,
            "failure": row.failure,
            "from_wallet_yen": from_wallet_yen,
        },
        reason=approval.reason,
        ip=ip,
    )


def notify_settled(*, approval: Approval, case_id: int) -> None:
    """Once nothing of ``approval`` for this case waits for the gateway, one mail to the
    customer about what it paid (through the outbox, sent after the commit).

    Call with the case locked, so two posts for one case cannot both find themselves last."""
    rows = Compensation.objects.filter(approval=approval, case_id=case_id)
    if rows.filter(state=Compensation.State.REQUESTED).exists():
        return
    paid = list(rows.filter(state=Compensation.State.PAID).select_related("customer").order_by("pk"))
    if not paid:
        return
    card_rows = [r for r in paid if r.method == Compensation.Method.CARD_REFUND]
    card_labels = {
        t.transfer_id: str(t.card)
        for t in TopUp.objects.filter(transfer_id__in=[r.fraud_transfer_id for r in card_rows]).select_related("card").exclude(card=None)
    }
    # What a card refund took back from the wallet: its posting's (negative) wallet leg.
    wallet_legs = dict(
        Entry.objects.filter(
            transfer_id__in=[r.paid_transfer_id for r in card_rows], account__kind=LedgerAccount.Kind.CUSTOMER_WALLET
        ).values_list("transfer_id", "amount_yen")
    )
    from_wallet = {r.pk: -wallet_legs.get(r.paid_transfer_id or 0, 0) for r in card_rows}
    notification_enqueue(
        user=paid[0].customer,
        kind="compensation_paid",
        context={
            "case": case_id,
            "total": f"{sum(r.amount_yen for r in paid):,}",
            "items": [
                {
                    "amount": f"{r.amount_yen:,}",
                    "method": r.method,
                    "card": card_labels.get(r.fraud_transfer_id, ""),
                    "from_wallet": f"{from_wallet[r.pk]:,}" if from_wallet.get(r.pk) else "",
                }
                for r in paid
            ],
        },
    )


def case_settle(case: Case, *, actor: User, note: str, ip: str | None = None) -> None:
    """Move a compensating case on once none of its rows waits: "compensated" when
    nothing of it is left to pay, back to "fraud confirmed" when something is (a row
    failed or was rejected, or a transaction was left out of the request)."""
    locked = Case.objects.select_for_update().select_related("customer").get(pk=case.pk)
    if locked.status != Case.Status.COMPENSATING:
        return
    rows = Compensation.objects.filter(case=locked)
    if rows.filter(state=Compensation.State.REQUESTED).exists():
        return
    done = rows.filter(state=Compensation.State.PAID).exists() and not compensation_plan(cases=[locked]).payable
    target = Case.Status.COMPENSATED if done else Case.Status.CONFIRMED
    case_status_set(case=locked, status=target, acting_user=actor, note=note, ip=ip)


# -- internals ---------------------------------------------------------------------------------


def _pending(row: Compensation) -> bool:
    return (
        row.state == Compensation.State.REQUESTED
        and row.method == Compensation.Method.CARD_REFUND
        and row.approval is not None
        and row.approval.state == Approval.State.APPROVED
    )


def _book_card_refund(row: Compensation, *, refund_id: str, checker: User) -> int:
    """Post a refund the gateway made; returns the yen taken back from the wallet."""
    customer_wallet = wallet_locked_for(row.customer)
    # What of the top-up is still in the wallet goes back to the card with it, never more than the balance.
    back = min(
        unspent_card_topup_yen(case=row.case, fraud_transfer_id=row.fraud_transfer_id), customer_wallet.balance_yen or 0, row.amount_yen
    )
    legs = [Leg(system_account(LedgerAccount.Kind.CARD_CLEARING), row.amount_yen)]
    if back:
        legs.append(Leg(customer_wallet, -back))
    if row.amount_yen - back:
        legs.append(Leg(system_account(LedgerAccount.Kind.COMPENSATION_EXPENSE), -(row.amount_yen - back)))
    transfer = transfer_post(
        kind=Transfer.Kind.COMPENSATION,
        legs=legs,
        idempotency_key=f"compensation:{row.pk}",
        description=f"Card refund {refund_id} for case #{row.case_id}",
        acting_user=checker,
        honour_freezes=False,
    )
    row.gateway_refund_id = refund_id
    mark_paid(row, transfer)
    return back


def _outside_any_transaction() -> None:
    """Django's own check: a durable block raises ``RuntimeError`` inside another
    transaction (a test case's transaction excepted)."""
    with transaction.atomic(durable=True):
        pass


@contextmanager
def _sole_sender(compensation_id: int) -> Iterator[bool]:
    """Whether this connection is the only one sending this row's refund now (a session
    advisory lock: no row is locked, and the connection's death releases it)."""
    lock_id = int.from_bytes(hashlib.sha256(f"compensation-refund\n{compensation_id}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
        found = cursor.fetchone()
    sole = bool(found and found[0])
    try:
        yield sole
    finally:
        if sole:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
