"""Reads of fraud cases: the filtered list and its CSV, one case with its
transactions, totals, history, freezes and compensation, and finding a
customer's transaction by the id staff were given."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext

from wallet.models import AccountFreeze, Entry, Payment, TopUp, Transfer, User

from ..models import Case, CaseEvent, CaseTransaction, Compensation
from .general import csv_safe

CASE_CSV_HEADER = [
    "id",
    "customer",
    "status",
    "source",
    "opened_at",
    "updated_at",
    "opened_by",
    "transactions",
    "amount_yen",
    "summary",
]
OPEN = "open_any"


@dataclass(frozen=True)
class CaseFilters:
    status: str = OPEN
    source: str = ""
    q: str = ""


def case_list(filters: CaseFilters) -> QuerySet[Case]:
    """Cases with their transaction count and yen, newest first. ``status`` "open_any" means every open status."""
    cases = Case.objects.select_related("customer", "opened_by")
    if filters.status == OPEN:
        cases = cases.filter(status__in=Case.OPEN_STATUSES)
    elif filters.status:
        cases = cases.filter(status=filters.status)
    if filters.source:
        cases = cases.filter(source=filters.source)
    if filters.q.strip():
        cases = cases.filter(customer__email__icontains=filters.q.strip())
    return cases.annotate(tx_count=Count("transactions"), tx_total_yen=Coalesce(Sum("transactions__amount_yen"), 0)).order_by(
        "-opened_at", "-id"
    )


def case_csv_rows(cases: QuerySet[Case]) -> Iterator[list[str]]:
    yield CASE_CSV_HEADER
    for case in cases.iterator(chunk_size=1000):
        yield [
            csv_safe(v)
            for v in (
                case.pk,
                case.customer.email,
                case.status,
                case.source,
                case.opened_at.isoformat(),
                case.updated_at.isoformat(),
                case.opened_by.email if case.opened_by else "",
                case.tx_count,  # type: ignore[attr-defined]
                case.tx_total_yen,  # type: ignore[attr-defined]
                case.summary,
            )
        ]


@dataclass(frozen=True)
class CaseTotals:
    count: int
    amount_yen: int
    topups_yen: int
    payments_yen: int
    other_yen: int


def case_transactions(case: Case) -> list[CaseTransaction]:
    return list(
        CaseTransaction.objects.filter(case=case)
        .select_related("transfer", "topup__card", "topup__terminal__merchant", "payment__merchant", "added_by")
        .order_by("occurred_at", "id")
    )


def case_totals(rows: list[CaseTransaction]) -> CaseTotals:
    by_kind = {kind: sum(r.amount_yen for r in rows if r.kind == kind) for kind in CaseTransaction.Kind.values}
    return CaseTotals(
        count=len(rows),
        amount_yen=sum(r.amount_yen for r in rows),
        topups_yen=by_kind[CaseTransaction.Kind.TOPUP],
        payments_yen=by_kind[CaseTransaction.Kind.PAYMENT],
        other_yen=by_kind[CaseTransaction.Kind.OTHER],
    )


def case_events(case: Case) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(case=case).select_related("actor").order_by("-created_at", "-id")


def case_compensations(case: Case) -> QuerySet[Compensation]:
    return Compensation.objects.filter(case=case).select_related("fraud_transfer", "requested_by").order_by("-requested_at", "-id")


@dataclass(frozen=True)
class FreezeRow:
    freeze: AccountFreeze
    active: bool


def customer_freezes(customer: User) -> list[FreezeRow]:
    active_ids = set(AccountFreeze.objects.active().filter(user=customer).values_list("pk", flat=True))
    freezes = AccountFreeze.objects.filter(user=customer).select_related("set_by").order_by("-created_at")[:20]
    return [FreezeRow(freeze=f, active=f.pk in active_ids) for f in freezes]


@dataclass(frozen=True)
class CandidateTransaction:
    transfer: Transfer
    kind: str
    amount_yen: int
    detail: str


def customer_recent_transactions(case: Case, *, limit: int = 10) -> list[CandidateTransaction]:
    """The customer's latest top-ups (held ones too) and store payments not yet in the case, to add with one click."""
    in_case = CaseTransaction.objects.filter(case=case).values("transfer_id")
    topups = (
        TopUp.objects.filter(user_id=case.customer_id, transfer__isnull=False)
        .exclude(transfer_id__in=in_case)
        .select_related("transfer", "card", "terminal")
        .order_by("-created_at")[:limit]
    )
    payments = (
        Payment.objects.filter(user_id=case.customer_id)
        .exclude(transfer_id__in=in_case)
        .select_related("transfer", "merchant")
        .order_by("-created_at")[:limit]
    )
    rows = [
        CandidateTransaction(
            transfer=t.transfer,  # type: ignore[arg-type]  # filtered non-null above
            kind=str(CaseTransaction.Kind.TOPUP.label),
            amount_yen=t.amount_yen,
            detail=f"{t.get_channel_display()} ({t.get_status_display()})",
        )
        for t in topups
    ]
    rows += [
        CandidateTransaction(
            transfer=p.transfer, kind=str(CaseTransaction.Kind.PAYMENT.label), amount_yen=p.amount_yen, detail=p.merchant.name
        )
        for p in payments
    ]
    rows.sort(key=lambda row: row.transfer.created_at, reverse=True)
    return rows[:limit]


def case_transfer_lookup(*, customer: User, reference: str) -> Transfer | None:
    """The customer's transfer named by a transfer id (digits) or a public id of the transfer,
    its top-up or its payment. ``None`` when it is not found or not the customer's."""
    reference = reference.strip()
    transfer: Transfer | None = None
    if reference.isdigit():
        transfer = Transfer.objects.filter(pk=int(reference)).first()
    else:
        try:
            public_id = uuid.UUID(reference)
        except ValueError:
            return None
        transfer = Transfer.objects.filter(public_id=public_id).first()
        if transfer is None:
            topup = TopUp.objects.filter(public_id=public_id, user=customer).select_related("transfer").first()
            payment = Payment.objects.filter(public_id=public_id, user=customer).select_related("transfer").first()
            transfer = topup.transfer if topup is not None else (payment.transfer if payment is not None else None)
    if transfer is None:
        return None
    owned = (
        TopUp.objects.filter(Q(transfer=transfer) | Q(release_transfer=transfer), user=customer).exists()
        or Payment.objects.filter(transfer=transfer, user=customer).exists()
        or Entry.objects.filter(transfer=transfer, account__owner=customer).exists()
    )
    return transfer if owned else None


def case_open_for(customer_ids: list[int]) -> dict[int, Case]:
    """Each customer's open case, if any (for the review queue's rows)."""
    return {c.customer_id: c for c in Case.objects.filter(customer_id__in=customer_ids, status__in=Case.OPEN_STATUSES)}


def first_factor_blocked_by_case(user: User) -> str | None:
    """A13: while a fraud case is open on the customer, nobody adds their first second factor."""
    if Case.objects.filter(customer=user, status__in=Case.OPEN_STATUSES).exists():
        return gettext("Your account is under review by our fraud team, so a second factor cannot be added now. Contact AnzenPay support.")
    return None
