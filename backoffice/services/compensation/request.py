"""Asking for compensation: one ``Compensation`` row per fraudulent transaction and
one approval listing them, for a second person to carry out (``approve``)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from wallet.adapters.cards import GatewayError
from wallet.errors import Refused
from wallet.models import User
from wallet.services.card_reversals import card_reversals_sync

from ...errors import ApprovalRefused
from ...models import Approval, Case, Compensation, Hunt
from ...selectors.compensation import compensation_target_cases
from ..audit import staff_action_record
from ..cases import case_status_set
from .approve import compensations_release_stale
from .plan import CASES_TO_CONFIRM, METHOD_AUTO, METHODS, CompensationPlan, PlanLine, compensation_plan

logger = logging.getLogger(__name__)

COMPENSATION_REQUEST_PERMISSION = "backoffice.add_compensation"


class CompensationRefused(Refused):
    """The request cannot be made; ``code`` for machines, the message for people. Nothing was changed."""

    class Code(StrEnum):
        GATEWAY_UNAVAILABLE = "gateway_unavailable"
        INVALID_METHOD = "invalid_method"
        NO_CASES = "no_cases"
        NO_REASON = "no_reason"
        NOT_ALLOWED = "not_allowed"
        NOTHING_TO_PAY = "nothing_to_pay"
        UNKNOWN_TRANSACTION = "unknown_transaction"


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

    Outermost: it calls the gateway and commits the sweep before its own transaction,
    so a caller must not wrap it (``durable``).
    """
    from ..approvals import approval_request

    reason = reason.strip()
    if not acting_user.has_perm(COMPENSATION_REQUEST_PERMISSION):
        raise CompensationRefused(CompensationRefused.Code.NOT_ALLOWED, gettext("You are not allowed to request compensation."))
    if not reason:
        raise CompensationRefused(CompensationRefused.Code.NO_REASON, gettext("A reason is required."))
    if method not in METHODS:
        raise CompensationRefused(CompensationRefused.Code.INVALID_METHOD, gettext("Choose how to pay."))
    targets = compensation_target_cases(case=case, cases=cases, hunt=hunt)
    if not targets:
        raise CompensationRefused(CompensationRefused.Code.NO_CASES, gettext("There is no case to compensate."))
    # Reversals first, outside any transaction (a network call must not hold locks).
    try:
        card_reversals_sync()
        gateway_problem = ""
    except GatewayError as exc:
        gateway_problem = str(exc)
    compensations_release_stale()
    with transaction.atomic(durable=True):
        # Cases locked first (then compensation rows, then wallets), the order the executor uses too.
        locked = list(Case.objects.select_for_update().select_related("customer").filter(pk__in=[c.pk for c in targets]).order_by("pk"))
        plan = compensation_plan(cases=locked, transaction_ids=transactions, method=method)
        _check_selection(plan, transactions)
        # Without the gateway's word on chargebacks, no card top-up is paid (by either method); store payments can be.
        if gateway_problem and any(line.row.topup is not None for line in plan.payable):
            logger.warning("card reversals could not be synced before a compensation request: %s", gateway_problem)
            raise CompensationRefused(
                CompensationRefused.Code.GATEWAY_UNAVAILABLE,
                gettext(
                    "The card gateway could not be asked about chargebacks, so card top-ups cannot be compensated now. Try again later."
                ),
            )
        created, skipped = _create_rows(plan, acting_user)
        if not created:
            raise CompensationRefused(
                CompensationRefused.Code.NOTHING_TO_PAY, gettext("Nothing to compensate: every transaction is skipped (see why below).")
            )
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
        raise CompensationRefused(CompensationRefused.Code.UNKNOWN_TRANSACTION, gettext("Choose transactions of the case to compensate."))


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
