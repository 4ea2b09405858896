"""The compensation plan: what a request for some cases would pay, how, and what it skips and why.

Pure: it reads the cases' transactions, live compensations, reversals and balances,
and writes nothing. The request page shows it, ``compensation_request`` records it
and the card refund's posting asks it what of a top-up is still in the wallet.

How much, and how, for each fraudulent transaction of a case
--------------------------------------------------------------
The customer's loss is the money the fraud took from *them*:

- A fraudulent **card top-up** charged their card. It is refunded to the card in
  full through the gateway. Whatever of it is still in the wallet goes back with
  it (the refund's ledger posting takes it from the wallet), so nobody is paid
  twice. A charge the issuer already reversed (a chargeback) is skipped: the
  customer has the money back.
- A fraudulent **store payment** spent wallet money. It is credited back to the
  wallet, except the part that was paid with the case's fraudulent card
  top-ups, which the card refunds (or the issuer's reversals) already return.
  Payments use up those top-ups oldest first.
- A **cash or ATM top-up** charged nobody's card: nothing to give back for it;
  the payments it funded are credited.

With the method "wallet", card top-ups are credited to the wallet instead (for
a closed card), less what is still in the wallet.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from wallet.models import CardReversal, LedgerAccount, TopUp, Transfer

from ...models import Case, CaseTransaction, Compensation
from ...selectors.compensation import stale_requested_q

METHOD_AUTO = "auto"
METHOD_CHOICES: list[tuple[str, Promise]] = [
    (METHOD_AUTO, _("Automatic")),
    (Compensation.Method.LEDGER, _("Everything to the wallet")),
    (Compensation.Method.CARD_REFUND, _("Card top-ups only, to the card")),
]
METHODS = tuple(code for code, _label in METHOD_CHOICES)
CARD_CHANNELS = (TopUp.Channel.CREDIT_CARD, TopUp.Channel.DEBIT_CARD)
# A case in these may be compensated; an open or investigating one is marked "fraud confirmed" by the request.
REQUESTABLE_CASE_STATUSES = ("open", "investigating", "confirmed", "compensating")
CASES_TO_CONFIRM = ("open", "investigating")

SKIP_REASONS: dict[str, Promise] = {
    "case_status": _("The case is “%(status)s”: compensation is asked for a case that is open, being investigated or confirmed."),
    "live": _("Compensation #%(id)s already covers it (%(state)s)."),
    "issuer_reversed": _("The card issuer already reversed this charge (chargeback): the customer has the money back."),
    "reversed": _("Already reversed in the ledger."),
    "held": _("Held for review: the wallet never received it. Reject it in the review queue to return the money."),
    "not_completed": _("The top-up is “%(status)s”: the wallet never kept this money."),
    "cash": _("Paid in as cash, not from the customer's card: nothing to give back for it; the store payments it funded are credited."),
    "funded_by_card": _("Paid with the case's fraudulent card top-ups, which go back to the card."),
    "refunded": _("The store already refunded it."),
    "in_wallet": _("The whole top-up is still in the wallet."),
    "not_card": _("A store payment cannot be refunded to a card: choose the automatic method or the wallet."),
    "other": _("Not a top-up or a store payment: use a ledger correction."),
    "taken": _("Another request took it a moment ago."),
}


@dataclass
class PlanLine:
    """One fraudulent transaction of a case: paid how much and how, or skipped and why."""

    case: Case
    row: CaseTransaction
    fraud_transfer_id: int
    method: str = ""
    pay_yen: int = 0
    # A card refund: the part of the top-up still in the wallet, which goes back to the card with it.
    wallet_return_yen: int = 0
    skip: str = ""
    skip_params: dict[str, Any] = field(default_factory=dict)

    @property
    def will_pay(self) -> bool:
        return not self.skip

    @property
    def skip_reason(self) -> str:
        return str(SKIP_REASONS[self.skip]) % self.skip_params if self.skip else ""

    @property
    def method_label(self) -> str:
        return str(Compensation.Method(self.method).label) if self.method else ""

    @property
    def card_label(self) -> str:
        topup = self.row.topup
        return str(topup.card) if topup is not None and topup.card is not None else ""


@dataclass
class CompensationPlan:
    lines: list[PlanLine]
    cases: list[Case]

    @property
    def payable(self) -> list[PlanLine]:
        return [line for line in self.lines if line.will_pay]

    @property
    def skipped(self) -> list[PlanLine]:
        return [line for line in self.lines if not line.will_pay]

    @property
    def total_yen(self) -> int:
        return sum(line.pay_yen for line in self.payable)

    def total_for(self, method: str) -> int:
        return sum(line.pay_yen for line in self.payable if line.method == method)

    @property
    def card_refund_yen(self) -> int:
        return self.total_for(Compensation.Method.CARD_REFUND)

    @property
    def ledger_yen(self) -> int:
        return self.total_for(Compensation.Method.LEDGER)

    @property
    def wallet_return_yen(self) -> int:
        return sum(line.wallet_return_yen for line in self.payable)

    @property
    def customers_count(self) -> int:
        return len({line.case.customer_id for line in self.payable})

    @property
    def cases_to_confirm(self) -> list[Case]:
        paying = {line.case.pk for line in self.payable}
        return [case for case in self.cases if case.pk in paying and case.status in CASES_TO_CONFIRM]

    @property
    def skip_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for line in self.skipped:
            counts[line.skip] += 1
        return dict(counts)


def _fraud_transfer_id(row: CaseTransaction) -> int:
    """The transfer the once-per-transaction rule is keyed on. A held and later
    released top-up has two transfers; both mean the same top-up."""
    if row.topup is not None and row.topup.transfer_id is not None:
        return row.topup.transfer_id
    if row.payment is not None:
        return row.payment.transfer_id
    return row.transfer_id


def _unique_rows(rows: Iterable[CaseTransaction]) -> list[CaseTransaction]:
    """One row per fraudulent transaction: a held top-up's booking and its release are one top-up."""
    seen: set[int] = set()
    unique = []
    for row in rows:
        key = _fraud_transfer_id(row)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def _is_card_topup(row: CaseTransaction) -> bool:
    return row.topup is not None and row.topup.channel in CARD_CHANNELS


def _spend_walk(
    rows: list[CaseTransaction], reversed_ids: set[int], balance_yen: int, settled: Collection[int] = ()
) -> tuple[dict[int, int], dict[int, int]]:
    """Walk one case's transactions in time order. Returns, by case-transaction id, what
    of each fraudulent card top-up is still in the wallet, and what of each payment was
    paid with the customer's own money (not covered by those top-ups).

    Spending the case does not list (the analyst may add only the top-up) shows in
    the balance: the newest top-ups keep what is left, at most ``balance_yen`` in all.
    Top-ups in ``settled`` (fraudulent transfer ids already compensated or being
    compensated) have had, or will have, their own share and take none of it."""
    pool: deque[list[int]] = deque()  # [row id, yen left]
    unspent: dict[int, int] = {}
    own_money: dict[int, int] = {}
    timeline = sorted(rows, key=lambda r: (r.occurred_at, r.pk))
    order = {row.pk: index for index, row in enumerate(timeline)}
    for row in timeline:
        fraud_id = _fraud_transfer_id(row)
        if _is_card_topup(row) and row.topup is not None and row.topup.status == TopUp.Status.SUCCEEDED and fraud_id not in reversed_ids:
            pool.append([row.pk, row.topup.amount_yen])
            unspent[row.pk] = row.topup.amount_yen
        elif row.payment is not None:
            need = 0 if fraud_id in reversed_ids else row.payment.amount_yen - row.payment.refunded_yen
            while need and pool:
                take = min(need, pool[0][1])
                pool[0][1] -= take
                unspent[pool[0][0]] -= take
                need -= take
                if not pool[0][1]:
                    pool.popleft()
            own_money[row.pk] = need
    fraud_of = {row.pk: _fraud_transfer_id(row) for row in rows}
    for row_id in sorted(unspent, key=lambda rid: order[rid], reverse=True):
        unspent[row_id] = 0 if fraud_of[row_id] in settled else min(unspent[row_id], balance_yen)
        balance_yen -= unspent[row_id]
    return unspent, own_money


def compensation_plan(
    *, cases: Sequence[Case], transaction_ids: Collection[int] | None = None, method: str = METHOD_AUTO
) -> CompensationPlan:
    """What a request for ``cases`` would pay and how, and what it skips and why.

    ``transaction_ids`` (case-transaction ids) limits the lines to those; the
    split between card refunds and wallet credits is still worked out over all
    of each case's transactions, so a partial request pays no more than a full one.
    """
    if method not in METHODS:
        raise ValueError(f"unknown compensation method {method!r}")
    case_by_id = {case.pk: case for case in cases}
    rows = _unique_rows(
        CaseTransaction.objects.filter(case_id__in=list(case_by_id))
        .select_related("topup", "topup__card", "payment", "payment__merchant", "transfer")
        .order_by("case_id", "occurred_at", "id")
    )
    fraud_ids = {_fraud_transfer_id(row) for row in rows}
    now = timezone.now()
    live = {
        c.fraud_transfer_id: c
        for c in Compensation.objects.filter(fraud_transfer_id__in=fraud_ids, state__in=Compensation.LIVE_STATES).exclude(
            stale_requested_q(now)
        )
    }
    reversed_ids = set(Transfer.objects.filter(reverses_id__in=fraud_ids).values_list("reverses_id", flat=True))
    issuer_reversed = set(
        CardReversal.objects.filter(topup_id__in=[row.topup_id for row in rows if row.topup_id]).values_list("topup_id", flat=True)
    )
    balances = _balances([case.customer_id for case in cases])
    by_case: dict[int, list[CaseTransaction]] = defaultdict(list)
    for row in rows:
        by_case[row.case_id].append(row)
    lines: list[PlanLine] = []
    for case_id, case_rows in by_case.items():
        case = case_by_id[case_id]
        unspent, own_money = _spend_walk(case_rows, reversed_ids, balances.get(case.customer_id, 0), settled=live)
        for row in case_rows:
            if transaction_ids is not None and row.pk not in transaction_ids:
                continue
            line = PlanLine(case=case, row=row, fraud_transfer_id=_fraud_transfer_id(row))
            _decide(
                line, method=method, live=live, reversed_ids=reversed_ids, issuer_reversed=issuer_reversed, unspent=unspent, own=own_money
            )
            lines.append(line)
    return CompensationPlan(lines=lines, cases=list(cases))


def _skip(line: PlanLine, code: str, **params: Any) -> None:
    line.skip = code
    line.skip_params = params


def _decide(
    line: PlanLine,
    *,
    method: str,
    live: dict[int, Compensation],
    reversed_ids: set[int],
    issuer_reversed: set[int],
    unspent: dict[int, int],
    own: dict[int, int],
) -> None:
    row, case = line.row, line.case
    existing = live.get(line.fraud_transfer_id)
    if existing is not None:
        return _skip(line, "live", id=existing.pk, state=existing.get_state_display())
    if case.status not in REQUESTABLE_CASE_STATUSES:
        return _skip(line, "case_status", status=case.get_status_display())
    if line.fraud_transfer_id in reversed_ids:
        return _skip(line, "reversed")
    topup, payment = row.topup, row.payment
    if topup is not None:
        if topup.status == TopUp.Status.HELD:
            return _skip(line, "held")
        if topup.status != TopUp.Status.SUCCEEDED:
            return _skip(line, "not_completed", status=topup.get_status_display())
        if topup.channel not in CARD_CHANNELS:
            return _skip(line, "cash")
        if topup.pk in issuer_reversed:
            return _skip(line, "issuer_reversed")
        left = unspent.get(row.pk, 0)
        if method == Compensation.Method.LEDGER:
            if topup.amount_yen - left <= 0:
                return _skip(line, "in_wallet")
            line.method, line.pay_yen = Compensation.Method.LEDGER, topup.amount_yen - left
            return None
        line.method, line.pay_yen, line.wallet_return_yen = Compensation.Method.CARD_REFUND, topup.amount_yen, left
        return None
    if payment is not None:
        if payment.refundable_yen <= 0:
            return _skip(line, "refunded")
        if method == Compensation.Method.CARD_REFUND:
            return _skip(line, "not_card")
        if own.get(row.pk, 0) <= 0:
            return _skip(line, "funded_by_card")
        line.method, line.pay_yen = Compensation.Method.LEDGER, own[row.pk]
        return None
    return _skip(line, "other")


def _balances(customer_ids: Collection[int]) -> dict[int, int]:
    return {
        owner: balance or 0
        for owner, balance in LedgerAccount.objects.filter(owner_id__in=list(customer_ids)).values_list("owner_id", "balance_yen")
        if owner is not None
    }


def unspent_card_topup_yen(*, case: Case, fraud_transfer_id: int) -> int:
    """What of a fraudulent card top-up of ``case`` is still in the wallet (see the module docstring)."""
    rows = _unique_rows(CaseTransaction.objects.filter(case=case).select_related("topup", "payment").order_by("occurred_at", "id"))
    reversed_ids = set(Transfer.objects.filter(reverses_id__in=[_fraud_transfer_id(r) for r in rows]).values_list("reverses_id", flat=True))
    settled = set(
        Compensation.objects.filter(case=case, state__in=Compensation.LIVE_STATES)
        .exclude(fraud_transfer_id=fraud_transfer_id)
        .values_list("fraud_transfer_id", flat=True)
    )
    unspent, _own = _spend_walk(rows, reversed_ids, _balances([case.customer_id]).get(case.customer_id, 0), settled=settled)
    return sum(unspent.get(row.pk, 0) for row in rows if _fraud_transfer_id(row) == fraud_transfer_id)
