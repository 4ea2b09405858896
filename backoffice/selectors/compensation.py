"""Reads for compensation: the cases a request is about, the list of compensations
with its CSV, the failure texts, and the totals reported to the regulator.

What a request would pay and how (the plan) is worked out by
``backoffice.services.compensation.plan``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ..models import Approval, Case, Compensation, Hunt
from .general import csv_safe

FAILURE_REASONS: dict[str, Promise] = {
    "unknown_charge": _("The card gateway does not know this charge."),
    "not_charged": _("The charge did not go through, so there is nothing to refund."),
    "charge_reversed": _("The card issuer already reversed this charge (chargeback)."),
    "amount_too_large": _("The charge was already refunded in part or in full."),
    "gateway_error": _("The card gateway refused the refund."),
    "approval_rejected": _("The approval was rejected."),
    "approval_expired": _("The approval expired before anyone decided."),
}


def failure_text(failure: str) -> str:
    """A stored failure ("code" or "code: detail") in the reader's language."""
    code, _sep, detail = failure.partition(": ")
    label = FAILURE_REASONS.get(code)
    if label is None:
        return failure
    return f"{label} ({detail})" if detail else str(label)


def compensation_target_cases(*, case: Case | None = None, cases: Sequence[Case] | None = None, hunt: Hunt | None = None) -> list[Case]:
    """The cases a request is about: one, several, or every case a hunt opened or joined."""
    given = [case is not None, cases is not None, hunt is not None]
    if sum(given) != 1:
        raise ValueError("name exactly one of case, cases or hunt")
    if case is not None:
        ids = [case.pk]
    elif cases is not None:
        ids = [c.pk for c in cases]
    else:
        assert hunt is not None
        ids = list(
            Case.objects.filter(Q(hunt=hunt) | Q(pk__in=hunt.hits.filter(case__isnull=False).values("case_id"))).values_list(
                "pk", flat=True
            )
        )
    return list(Case.objects.filter(pk__in=ids).select_related("customer").order_by("pk"))


def stale_requested_q(now: datetime | None = None) -> Q:
    """Compensations still "requested" whose approval was rejected or ran out: the sweep releases them."""
    now = now or timezone.now()
    return Q(state=Compensation.State.REQUESTED) & (
        Q(approval__state__in=[Approval.State.REJECTED, Approval.State.EXPIRED])
        | Q(approval__state=Approval.State.PENDING, approval__expires_at__lte=now)
    )


def refunds_pending_q() -> Q:
    """Card refunds sent to the gateway and not yet answered: approved, still "requested".

    The approval's transaction leaves them so and commits; the answer is posted later
    (``backoffice.services.compensation.execute``), or the sweep asks again."""
    return Q(state=Compensation.State.REQUESTED, method=Compensation.Method.CARD_REFUND, approval__state=Approval.State.APPROVED)


# -- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompensationFilters:
    state: str = ""
    method: str = ""
    q: str = ""
    approval: int | None = None
    case: int | None = None


def compensation_list(filters: CompensationFilters) -> QuerySet[Compensation]:
    qs = Compensation.objects.select_related("case", "customer", "approval", "requested_by")
    if filters.state:
        qs = qs.filter(state=filters.state)
    if filters.method:
        qs = qs.filter(method=filters.method)
    if filters.approval is not None:
        qs = qs.filter(approval_id=filters.approval)
    if filters.case is not None:
        qs = qs.filter(case_id=filters.case)
    q = filters.q.strip()
    if q:
        number = q.lstrip("#")
        match = Q(customer__email__icontains=q) | Q(gateway_refund_id=q)
        if number.isdigit():
            match |= Q(pk=int(number)) | Q(case_id=int(number)) | Q(approval_id=int(number))
        qs = qs.filter(match)
    return qs.order_by("-requested_at", "-id")


COMPENSATION_CSV_HEADER = [
    "id",
    "requested_at",
    "case",
    "customer",
    "method",
    "amount_yen",
    "state",
    "approval",
    "requested_by",
    "paid_at",
    "paid_transfer",
    "gateway_refund_id",
    "failure",
]


def compensation_csv_rows(queryset: QuerySet[Compensation]) -> Iterator[list[str]]:
    yield COMPENSATION_CSV_HEADER
    rows = queryset.select_related("customer", "requested_by", "paid_transfer").order_by("id")
    for c in rows.iterator(chunk_size=2000):
        yield [
            csv_safe(v)
            for v in (
                c.pk,
                c.requested_at.isoformat(),
                c.case_id,
                c.customer.email,
                c.method,
                c.amount_yen,
                c.state,
                c.approval_id or "",
                c.requested_by.email,
                c.paid_at.isoformat() if c.paid_at else "",
                c.paid_transfer.public_id if c.paid_transfer else "",
                c.gateway_refund_id,
                c.failure,
            )
        ]


# -- the regulator's report -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportTotals:
    customers: int
    transactions: int
    yen: int


@dataclass(frozen=True)
class ReportDay:
    day: date
    by_method: dict[str, ReportTotals]
    total: ReportTotals


@dataclass(frozen=True)
class CompensationReport:
    date_from: date | None
    date_to: date | None
    total: ReportTotals
    by_method: dict[str, ReportTotals]
    days: list[ReportDay]

    @property
    def max_day_yen(self) -> int:
        return max((d.total.yen for d in self.days), default=0)


def _totals(qs: QuerySet[Compensation]) -> ReportTotals:
    agg = qs.aggregate(customers=Count("customer", distinct=True), transactions=Count("id"), yen=Sum("amount_yen"))
    return ReportTotals(customers=agg["customers"] or 0, transactions=agg["transactions"] or 0, yen=agg["yen"] or 0)


def compensation_report(*, date_from: date | None = None, date_to: date | None = None) -> CompensationReport:
    """Paid compensation: customers, transactions and yen, by method and by day (Japan time).

    A card refund counts in full: that is what went back to the customer's card,
    even when part of it came back from the wallet.
    """
    tz = timezone.get_current_timezone()
    qs = Compensation.objects.filter(state=Compensation.State.PAID)
    if date_from is not None:
        qs = qs.filter(paid_at__gte=timezone.make_aware(datetime.combine(date_from, time.min), tz))
    if date_to is not None:
        qs = qs.filter(paid_at__lt=timezone.make_aware(datetime.combine(date_to, time.max), tz))
    by_method = {m: _totals(qs.filter(method=m)) for m in Compensation.Method.values}
    per_day = (
        qs.annotate(day=TruncDate("paid_at", tzinfo=tz))
        .values("day", "method")
        .annotate(customers=Count("customer", distinct=True), transactions=Count("id"), yen=Sum("amount_yen"))
        .order_by("day", "method")
    )
    day_methods: dict[date, dict[str, ReportTotals]] = defaultdict(dict)
    for row in per_day:
        day_methods[row["day"]][row["method"]] = ReportTotals(row["customers"], row["transactions"], row["yen"] or 0)
    day_customers = dict(
        qs.annotate(day=TruncDate("paid_at", tzinfo=tz)).values("day").annotate(n=Count("customer", distinct=True)).values_list("day", "n")
    )
    days = [
        ReportDay(
            day=day,
            by_method=methods,
            total=ReportTotals(
                customers=day_customers.get(day, 0),
                transactions=sum(t.transactions for t in methods.values()),
                yen=sum(t.yen for t in methods.values()),
            ),
        )
        for day, methods in sorted(day_methods.items())
    ]
    return CompensationReport(date_from=date_from, date_to=date_to, total=_totals(qs), by_method=by_method, days=days)


REPORT_CSV_HEADER = ["day", "method", "customers", "transactions", "yen"]


def compensation_report_csv_rows(report: CompensationReport) -> Iterator[list[str]]:
    """Per day and method, then per method and the grand total (day column "total")."""
    yield REPORT_CSV_HEADER
    for day in report.days:
        for method, totals in sorted(day.by_method.items()):
            yield [day.day.isoformat(), method, str(totals.customers), str(totals.transactions), str(totals.yen)]
    for method, totals in report.by_method.items():
        yield ["total", method, str(totals.customers), str(totals.transactions), str(totals.yen)]
    yield ["total", "all", str(report.total.customers), str(report.total.transactions), str(report.total.yen)]
