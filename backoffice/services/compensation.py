"""Compensation for fraudulent transactions (issue 4 §7), always with a second person (B04).

``compensation_request`` records one ``Compensation`` per fraudulent transaction
(state "requested") and one approval listing them; ``compensation_execute`` pays
them when a different person approves, inside the approval's transaction.
How much and how each transaction is paid is the plan in
``backoffice.selectors.compensation`` (read its docstring).

At most once per fraudulent transaction, however requests and approvals race:

- the partial unique constraint ``compensation_once_per_transaction`` allows one
  requested-or-paid row per fraudulent transfer; a row that loses the race is
  skipped, not paid;
- the approval row is locked while it is decided, so two checkers cannot both
  carry it out, and only rows still "requested" are paid;
- the ledger posting's idempotency key is ``compensation:<id>`` (unique on
  ``Transfer``);
- the gateway refund's idempotency key is ``compensation-refund:<fraudulent
  transfer id>``: per fraudulent transaction rather than per row, so even a
  refund whose approval rolled back (the gateway kept it) and that is then
  requested again as a new row is not made twice: the gateway replays it.

Ledger postings (signs as everywhere in the ledger: a wallet's positive
balance is what we owe the customer; ``card_clearing`` is debited by a card
top-up, since the acquirer owes us that money):

- wallet credit: ``compensation_expense −X``, ``wallet +X``;
- card refund of X: ``card_clearing +X`` (the acquirer nets the refund out of
  what it pays us, undoing the top-up's debit), ``wallet −W`` for the part W of
  the top-up still unspent (at most the balance), ``compensation_expense
  −(X−W)`` for the rest, which is what the fraud cost us.

Both ignore freezes: a freeze stops the attacker moving money, and this is
money two staff members agreed to return; a debit freeze still stops it being
spent. A rejected or expired approval releases its rows (``compensations_release_stale``,
run before each request and on a schedule), so a new request can be made.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from wallet.adapters.cards import CardGateway, GatewayError, GatewayTimeout, get_card_gateway
from wallet.models import LedgerAccount, TopUp, Transfer, User
from wallet.services.card_reversals import card_reversals_sync
from wallet.services.ledger import Leg, system_account, transfer_post, wallet_locked_for
from wallet.services.notifications import notification_enqueue

from ..models import Approval, Case, Compensation, Hunt
from ..selectors.compensation import (
    CASES_TO_CONFIRM,
    METHOD_AUTO,
    METHODS,
    CompensationPlan,
    PlanLine,
    compensation_plan,
    compensation_target_cases,
    stale_requested_q,
    unspent_card_topup_yen,
)
from .audit import staff_action_record
from .cases import case_status_set

logger = logging.getLogger(__name__)

COMPENSATION_REQUEST_PERMISSION = "backoffice.add_compensation"
PAYLOAD_KEYS = {"cases", "compensations", "total_yen", "hunt"}


class CompensationRefused(Exception):
    """The request cannot be made; ``code`` for machines, the message for people. Nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CompensationRequested:
    approval: Approval
    compensations: list[Compensation]
    # Lines of the plan that were not requested, each with its reason.
    skipped: list[PlanLine]

    @property
    def total_yen(self) -> int:
        return sum(c.amount_yen for c in self.compensations)


def compensation_request(
    *,
    case: Case | None = None,
    cases: Sequence[Case] | None = None,
    hunt: Hunt | None = None,
    transactions: Collection[int] | None = None,
    method: str = METHOD_AUTO,
    reason: str,
    acting_user: User,
    ip: str | None = None,
) -> CompensationRequested:
    """Ask a second person to pay the fraudulent transactions of one case, several, or a hunt's cases.

    ``transactions`` are case-transaction ids (all of the cases' when omitted).
    Transactions already compensated or being compensated, and card top-ups the
    issuer reversed, are skipped (see ``CompensationRequested.skipped``). An open
    or investigating case becomes "fraud confirmed"; every case with something
    requested becomes "compensating". Raises ``CompensationRefused``.
    """
    from .approvals import ApprovalRefused, approval_request

    reason = reason.strip()
    if not acting_user.has_perm(COMPENSATION_REQUEST_PERMISSION):
        raise CompensationRefused("not_allowed", gettext("You are not allowed to request compensation."))
    if not reason:
        raise CompensationRefused("no_reason", gettext("A reason is required."))
    if method not in METHODS:
        raise CompensationRefused("invalid_method", gettext("Choose how to pay."))
    targets = compensation_target_cases(case=case, cases=cases, hunt=hunt)
    if not targets:
        raise CompensationRefused("no_cases", gettext("There is no case to compensate."))
    # Reversals first, outside any transaction (a network call must not hold locks).
    try:
        card_reversals_sync()
        gateway_problem = ""
    except GatewayError as exc:
        gateway_problem = str(exc)
    compensations_release_stale()
    with transaction.atomic():
        # Cases locked first (then compensation rows, then wallets), the order the executor uses too.
        locked = list(Case.objects.select_for_update().select_related("customer").filter(pk__in=[c.pk for c in targets]).order_by("pk"))
        plan = compensation_plan(cases=locked, transaction_ids=transactions, method=method)
        _check_selection(plan, transactions)
        # Without the gateway's word on chargebacks, no card top-up is paid (by either method); store payments can be.
        if gateway_problem and any(line.row.topup is not None for line in plan.payable):
            logger.warning("card reversals could not be synced before a compensation request: %s", gateway_problem)
            raise CompensationRefused(
                "gateway_unavailable",
                gettext(
                    "The card gateway could not be asked about chargebacks, so card top-ups cannot be compensated now. Try again later."
                ),
            )
        created, skipped = _create_rows(plan, acting_user)
        if not created:
            raise CompensationRefused("nothing_to_pay", gettext("Nothing to compensate: every transaction is skipped (see why below)."))
        payload: dict[str, Any] = {
            "cases": sorted({c.case_id for c in created}),
            "compensations": [c.pk for c in created],
            "total_yen": sum(c.amount_yen for c in created),
        }
        if hunt is not None:
            payload["hunt"] = hunt.pk
        try:
            approval = approval_request(kind=Approval.Kind.COMPENSATION, payload=payload, reason=reason, maker=acting_user, ip=ip)
        except ApprovalRefused as exc:
            raise CompensationRefused(exc.code, exc.message) from exc
        Compensation.objects.filter(pk__in=payload["compensations"]).update(approval=approval)
        for c in created:
            c.approval = approval
        _cases_to_compensating(locked, {c.case_id for c in created}, approval=approval, acting_user=acting_user, ip=ip)
        staff_action_record(
            acting_user=acting_user,
            action="compensation.request",
            target=approval,
            after={
                "compensations": len(created),
                "total_yen": payload["total_yen"],
                "by_method": _by_method(created),
                "skipped": {code: sum(1 for s in skipped if s.skip == code) for code in sorted({s.skip for s in skipped})},
                "method": method,
            },
            reason=reason,
            ip=ip,
        )
    return CompensationRequested(approval=approval, compensations=created, skipped=skipped)


def _check_selection(plan: CompensationPlan, transactions: Collection[int] | None) -> None:
    if transactions is None:
        return
    found = {line.row.pk for line in plan.lines}
    if not transactions or set(transactions) - found:
        raise CompensationRefused("unknown_transaction", gettext("Choose transactions of the case to compensate."))


def _create_rows(plan: CompensationPlan, acting_user: User) -> tuple[list[Compensation], list[PlanLine]]:
    created: list[Compensation] = []
    skipped = plan.skipped
    for line in plan.payable:
        try:
            # A savepoint per row: losing the once-per-transaction race skips this row, not the request.
            with transaction.atomic():
                created.append(
                    Compensation.objects.create(
                        case=line.case,
                        fraud_transfer_id=line.fraud_transfer_id,
                        customer_id=line.case.customer_id,
                        method=line.method,
                        amount_yen=line.pay_yen,
                        requested_by=acting_user,
                    )
                )
        except IntegrityError:
            line.skip, line.skip_params = "taken", {}
            skipped.append(line)
    return created, skipped


def _by_method(rows: Sequence[Compensation]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row.method] += row.amount_yen
    return dict(totals)


def _cases_to_compensating(cases: Sequence[Case], case_ids: set[int], *, approval: Approval, acting_user: User, ip: str | None) -> None:
    for case in cases:
        if case.pk not in case_ids:
            continue
        note = gettext("Compensation requested (approval #%(approval)s).") % {"approval": approval.pk}
        if case.status in CASES_TO_CONFIRM:
            case = case_status_set(case=case, status=Case.Status.CONFIRMED, acting_user=acting_user, note=note, ip=ip)
        if case.status == Case.Status.CONFIRMED:
            case_status_set(case=case, status=Case.Status.COMPENSATING, acting_user=acting_user, note=note, ip=ip)


# -- the approval's executor ------------------------------------------------------------------------


def compensation_validate(payload: dict[str, Any]) -> None:
    """Approval executor check: the payload lists rows just requested and not yet in any approval."""
    from .approvals import ApprovalRefused

    ids = payload.get("compensations")
    if (
        not set(payload) <= PAYLOAD_KEYS
        or not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        or len(set(ids)) != len(ids)
    ):
        raise ApprovalRefused("invalid_payload", gettext("The request must list the compensations to pay."))
    rows = Compensation.objects.filter(pk__in=ids)
    if (
        rows.count() != len(ids)
        or rows.exclude(state=Compensation.State.REQUESTED).exists()
        or rows.filter(approval__isnull=False).exists()
    ):
        raise ApprovalRefused("invalid_payload", gettext("These compensations cannot be requested again."))
    if payload.get("total_yen") != sum(rows.values_list("amount_yen", flat=True)):
        raise ApprovalRefused("invalid_payload", gettext("The total does not match the compensations."))


def compensation_execute(approval: Approval, checker: User, ip: str | None) -> None:
    """Approval executor: pay every row still requested, inside the approval's transaction.

    A refusal by the gateway marks that row failed (no money moved for it) and
    the others are paid. A gateway that does not answer raises ``ApprovalRefused``:
    everything rolls back, the approval stays pending, and approving again is
    safe because the refund's idempotency key replays it.
    """
    from .approvals import ApprovalRefused

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
        raise ApprovalRefused("nothing_due", gettext("Nothing in this request is waiting to be paid any more."))
    gateway = get_card_gateway()
    paid: list[Compensation] = []
    from_wallet: dict[int, int] = {}
    for row in due:
        if row.method == Compensation.Method.CARD_REFUND:
            try:
                outcome, from_wallet[row.pk] = _pay_card_refund(row, gateway=gateway, checker=checker)
            except GatewayTimeout as exc:
                raise ApprovalRefused(
                    "gateway_timeout",
                    gettext("The card gateway did not answer, so nothing was paid. Approve again in a moment: no refund is made twice."),
                ) from exc
        else:
            outcome = _pay_ledger(row, checker=checker)
        row.save(update_fields=["state", "paid_transfer", "paid_at", "gateway_refund_id", "failure"])
        staff_action_record(
            acting_user=checker,
            action="compensation.pay" if outcome else "compensation.fail",
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
                "from_wallet_yen": from_wallet.get(row.pk, 0),
            },
            reason=approval.reason,
            ip=ip,
        )
        if outcome:
            paid.append(row)
    _notify(paid, from_wallet)
    for case in cases:
        _case_settle(case, actor=checker, note=gettext("Approval #%(approval)s carried out.") % {"approval": approval.pk}, ip=ip)


def _pay_ledger(row: Compensation, *, checker: User) -> bool:
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
    _mark_paid(row, transfer)
    return True


def _pay_card_refund(row: Compensation, *, gateway: CardGateway, checker: User) -> tuple[bool, int]:
    """Refund through the gateway, then post it; returns (paid, yen taken back from the wallet)."""
    topup = TopUp.objects.filter(transfer_id=row.fraud_transfer_id).first()
    if topup is None or not topup.gateway_charge_id:
        return _mark_failed(row, "unknown_charge"), 0
    try:
        result = gateway.refund(
            charge_id=topup.gateway_charge_id, amount_yen=row.amount_yen, idempotency_key=f"compensation-refund:{row.fraud_transfer_id}"
        )
    except GatewayTimeout:
        raise  # the refund may have happened: the caller rolls everything back for a retry
    except GatewayError as exc:
        return _mark_failed(row, f"gateway_error: {exc}"), 0
    if not result.succeeded:
        return _mark_failed(row, result.failure_code or "gateway_error"), 0
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
        description=f"Card refund {result.refund_id} for case #{row.case_id}",
        acting_user=checker,
        honour_freezes=False,
    )
    row.gateway_refund_id = result.refund_id
    _mark_paid(row, transfer)
    return True, back


def _mark_paid(row: Compensation, transfer: Transfer) -> None:
    row.state = Compensation.State.PAID
    row.paid_transfer = transfer
    row.paid_at = timezone.now()
    row.failure = ""


def _mark_failed(row: Compensation, failure: str) -> bool:
    row.state = Compensation.State.FAILED
    row.failure = failure[:500]
    return False


def _notify(paid: Sequence[Compensation], from_wallet: dict[int, int]) -> None:
    """One mail per customer and case, through the outbox (sent after the commit)."""
    groups: dict[tuple[int, int], list[Compensation]] = defaultdict(list)
    for row in paid:
        groups[(row.customer_id, row.case_id)].append(row)
    card_labels = {
        t.transfer_id: str(t.card)
        for t in TopUp.objects.filter(transfer_id__in=[r.fraud_transfer_id for r in paid if r.method == Compensation.Method.CARD_REFUND])
        .select_related("card")
        .exclude(card=None)
    }
    for (_customer_id, case_id), rows in groups.items():
        notification_enqueue(
            user=rows[0].customer,
            kind="compensation_paid",
            context={
                "case": case_id,
                "total": f"{sum(r.amount_yen for r in rows):,}",
                "items": [
                    {
                        "amount": f"{r.amount_yen:,}",
                        "method": r.method,
                        "card": card_labels.get(r.fraud_transfer_id, ""),
                        "from_wallet": f"{from_wallet[r.pk]:,}" if from_wallet.get(r.pk) else "",
                    }
                    for r in rows
                ],
            },
        )


def _case_settle(case: Case, *, actor: User, note: str, ip: str | None = None) -> None:
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


# -- releasing rows of rejected or expired approvals ---------------------------------------------------


def compensations_release_stale() -> int:
    """Mark "rejected" the requested rows whose approval was rejected or expired, so
    the transactions can be requested again; returns how many were released.

    Safe to run twice or in parallel: approvals being decided right now are skipped
    (their row lock is held) and only rows still "requested" change.
    """
    candidates = set(
        Compensation.objects.filter(stale_requested_q()).exclude(approval=None).values_list("approval_id", flat=True).distinct()
    )
    released = 0
    for approval_id in sorted(candidates):
        with transaction.atomic():
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
                _case_settle(case, actor=actor, note=note)
            released += len(ids)
    return released


def compensation_export_record(*, acting_user: User, what: str, filters: str, row_count: int, ip: str | None = None) -> None:
    """An export of compensation ("list": customers and amounts; "report": totals) is audited before the file is sent."""
    with transaction.atomic():
        staff_action_record(
            acting_user=acting_user, action=f"compensation.export_{what}", after={"filters": filters[:500], "rows": row_count}, ip=ip
        )
