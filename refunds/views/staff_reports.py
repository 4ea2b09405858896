"""The refund reports and dashboard (``refunds_staff:reports``) and, after the
deadline, the unclaimed-balances report (``refunds_staff:unclaimed``), for those
with ``refunds.report_refundclaim`` (finance, supervisors).

Charts are server-drawn SVG like the incident dashboard's (no script, CSP
'self'), each with a title, a description and its numbers in a table. Every
table exports as CSV; every export is audited before the file is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from backoffice.services.exports import export_record
from backoffice.views.base import acting_staff, staff_page, staff_render
from backoffice.views.dashboard import bar_chart, nice_ceiling
from wallet.csv_export import csv_streaming_response
from wallet.money_format import yen_text
from wallet.request_meta import client_ip

from ..models import ShutdownProgramme
from ..selectors.reports import (
    UNCLAIMED_PAGE_SIZE,
    HolderTotals,
    LedgerReconciliation,
    StateTotal,
    Week,
    claims_by_state,
    ledger_reconciliation,
    open_claim_totals,
    paid_totals,
    unclaimed_csv_rows,
    unclaimed_has_before,
    unclaimed_has_more,
    unclaimed_holders,
    unclaimed_totals,
    weekly_progress,
)
from ..services.programme import programme_current
from ..services.review_desk import REPORT_PERMISSION

# Okabe-Ito blue and vermilion: told apart with colour-blindness; paid bars also carry a dark outline.
FILED_COLOUR, PAID_COLOUR = "#0072B2", "#D55E00"
TABLES = ("states", "holders", "weeks", "ledger")


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class WeekBar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    outline: bool
    title: str


@dataclass(frozen=True)
class WeekChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    font: int
    bars: list[WeekBar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]

    @property
    def y_label_x(self) -> int:
        return self.left - 6

    @property
    def x_label_y(self) -> int:
        return self.bottom + self.font + 4


def week_chart(weeks: Sequence[Week], *, width: int, height: int, font: int, left: int, label_every: int) -> WeekChart:
    """Claims filed and paid per week as pairs of vertical bars."""
    right, top, bottom = width - 8, 10, height - font * 2 - 6
    top_value, step = nice_ceiling(max((max(w.filed, w.paid) for w in weeks), default=0))
    slot = (right - left) / max(len(weeks), 1)
    bar = max(min(slot * 0.4, 28.0), 1.0)
    bars, ticks = [], []
    for i, week in enumerate(weeks):
        x0 = left + i * slot + (slot - 2 * bar) / 2
        for k, (value, colour, label) in enumerate(
            ((week.filed, FILED_COLOUR, gettext("filed")), (week.paid, PAID_COLOUR, gettext("paid")))
        ):
            h = (bottom - top) * value / top_value
            title = gettext("Week of %(week)s: %(count)s %(what)s") % {
                "week": f"{week.start:%Y-%m-%d}",
                "count": f"{value:,}",
                "what": label,
            }
            bars.append(WeekBar(round(x0 + k * bar, 1), round(bottom - h, 1), round(bar, 1), round(h, 1), colour, k == 1, title))
        if i % label_every == 0:
            ticks.append(Tick(round(left + i * slot + slot / 2, 1), f"{week.start:%m/%d}"))
    y_ticks = [Tick(round(bottom - (bottom - top) * v / top_value, 1), f"{v:,}") for v in range(0, top_value + 1, step)]
    return WeekChart(width, height, left, right, top, bottom, font, bars, ticks, y_ticks)


def _week_desc(weeks: Sequence[Week]) -> str:
    if not weeks:
        return gettext("No claims yet.")
    filed, paid = sum(w.filed for w in weeks), sum(w.paid for w in weeks)
    busiest = max(weeks, key=lambda w: w.filed)
    return gettext(
        "From the week of %(first)s to the week of %(last)s: %(filed)s claims filed and %(paid)s paid; "
        "the most claims were filed in the week of %(busiest)s (%(most)s)."
    ) % {
        "first": f"{weeks[0].start:%Y-%m-%d}",
        "last": f"{weeks[-1].start:%Y-%m-%d}",
        "filed": f"{filed:,}",
        "paid": f"{paid:,}",
        "busiest": f"{busiest.start:%Y-%m-%d}",
        "most": f"{busiest.filed:,}",
    }


@dataclass(frozen=True)
class Figures:
    programme: ShutdownProgramme
    states: list[StateTotal]
    paid: HolderTotals
    open: HolderTotals
    unclaimed: HolderTotals
    weeks: list[Week]
    ledger: LedgerReconciliation


def _figures() -> Figures | None:
    programme = programme_current()
    if programme is None:
        return None
    return Figures(
        programme=programme,
        states=claims_by_state(programme),
        paid=paid_totals(programme),
        open=open_claim_totals(programme),
        unclaimed=unclaimed_totals(programme),
        weeks=weekly_progress(programme),
        ledger=ledger_reconciliation(),
    )


def _ledger_labels() -> dict[str, str]:
    return {
        "refund_payable": gettext("refund_payable: open claims not yet released to the bank"),
        "payout_clearing": gettext("payout_clearing: paid claims and released payouts waiting for the bank"),
        "total": gettext("Both accounts: every claim not rejected"),
    }


def _table_rows(figures: Figures, table: str) -> list[list[object]]:
    """The rows of one report table, as shown and as exported."""
    if table == "states":
        return [["state", "label", "claims", "yen"], *([s.state, s.label, s.claims, s.yen] for s in figures.states)]
    if table == "holders":
        return [
            ["group", "holders", "yen", "average_yen"],
            ["paid", figures.paid.holders, figures.paid.yen, figures.paid.average_yen],
            ["open_claim", figures.open.holders, figures.open.yen, figures.open.average_yen],
            ["unclaimed", figures.unclaimed.holders, figures.unclaimed.yen, figures.unclaimed.average_yen],
        ]
    if table == "weeks":
        return [
            ["week_start", "filed", "filed_yen", "paid", "paid_yen"],
            *([f"{w.start:%Y-%m-%d}", w.filed, w.filed_yen, w.paid, w.paid_yen] for w in figures.weeks),
        ]
    labels = _ledger_labels()
    return [
        ["line", "label", "from_claims_yen", "ledger_yen", "difference_yen"],
        *([line, labels[line], expected, ledger, ledger - expected] for line, expected, ledger in figures.ledger.lines),
    ]


@require_GET
@staff_page(REPORT_PERMISSION)
def reports(request: HttpRequest) -> HttpResponse:
    figures = _figures()
    context: dict[str, object] = {"figures": figures, "generated_at": timezone.localtime()}
    if figures is not None:
        total_claims = sum(s.claims for s in figures.states)
        context.update(
            total_claims=total_claims,
            total_claimed_yen=sum(s.yen for s in figures.states if s.state != "rejected"),
            states_chart=bar_chart([(f"{s.label} ({yen_text(s.yen)})", s.claims, f"{s.claims:,}") for s in figures.states]),
            holders_chart=bar_chart(
                [
                    (gettext("Paid"), figures.paid.holders, f"{figures.paid.holders:,}"),
                    (gettext("Claim open"), figures.open.holders, f"{figures.open.holders:,}"),
                    (gettext("Unclaimed"), figures.unclaimed.holders, f"{figures.unclaimed.holders:,}"),
                ]
            ),
            yen_chart=bar_chart(
                [
                    (gettext("Paid"), figures.paid.yen, yen_text(figures.paid.yen)),
                    (gettext("Claim open"), figures.open.yen, yen_text(figures.open.yen)),
                    (gettext("Unclaimed"), figures.unclaimed.yen, yen_text(figures.unclaimed.yen)),
                ]
            ),
            week_wide=week_chart(figures.weeks, width=960, height=300, font=13, left=56, label_every=max(1, len(figures.weeks) // 16)),
            week_narrow=week_chart(figures.weeks, width=360, height=260, font=13, left=48, label_every=max(1, len(figures.weeks) // 4)),
            week_desc=_week_desc(figures.weeks),
            ledger_lines=[(_ledger_labels()[line], expected, ledger, ledger - expected) for line, expected, ledger in figures.ledger.lines],
            # Each account on its own: two differences that cancel out are still two problems.
            ledger_difference=sum(abs(ledger - expected) for line, expected, ledger in figures.ledger.lines if line != "total"),
            deadline_passed=figures.programme.claims_have_closed(),
            colours={"filed": FILED_COLOUR, "paid": PAID_COLOUR},
        )
    return staff_render(request, "admin/refunds/desk/reports/reports.html", context, title=gettext("Refund reports"))


@require_GET
@staff_page(REPORT_PERMISSION)  # type: ignore[arg-type]  # a streamed CSV is an HttpResponseBase
def reports_export(request: HttpRequest, table: str) -> HttpResponseBase:
    if table not in TABLES:
        raise Http404(gettext("There is no such report table."))
    figures = _figures()
    if figures is None:
        messages.error(request, gettext("There is no shutdown programme; nothing was exported."))
        return HttpResponseRedirect(reverse("refunds_staff:reports"))
    header, *rows = _table_rows(figures, table)
    export_record(
        acting_user=acting_staff(request),
        what="refund.export_report",
        filters=f"table={table}",
        row_count=len(rows),
        ip=client_ip(request),
        permission=REPORT_PERMISSION,
    )
    return csv_streaming_response(filename=f"refund-report-{table}.csv", header=header, rows=rows, bom=False)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 19 else None


@require_GET
@staff_page(REPORT_PERMISSION)
def unclaimed_report(request: HttpRequest) -> HttpResponse:
    programme = programme_current()
    context: dict[str, object] = {"programme": programme, "page_size": UNCLAIMED_PAGE_SIZE}
    if programme is not None and programme.claims_have_closed():
        before = _int(request.GET.get("before"))
        after = _int(request.GET.get("after")) or 0
        holders = unclaimed_holders(programme, after=after, before=before)
        context.update(
            deadline_passed=True,
            totals=unclaimed_totals(programme),
            holders=holders,
            next_after=holders[-1].account_id if holders and unclaimed_has_more(programme, after=holders[-1].account_id) else None,
            prev_before=holders[0].account_id if holders and unclaimed_has_before(programme, before=holders[0].account_id) else None,
            may_view_customer=request.user.has_perm("wallet.view_user"),
        )
    return staff_render(request, "admin/refunds/desk/reports/unclaimed.html", context, title=gettext("Unclaimed balances"))


@require_GET
@staff_page(REPORT_PERMISSION)  # type: ignore[arg-type]  # a streamed CSV is an HttpResponseBase
def unclaimed_export(request: HttpRequest) -> HttpResponseBase:
    programme = programme_current()
    if programme is None or not programme.claims_have_closed():
        messages.error(request, gettext("The unclaimed-balances report exists after the claim deadline; nothing was exported."))
        return HttpResponseRedirect(reverse("refunds_staff:unclaimed"))
    totals = unclaimed_totals(programme)
    export_record(
        acting_user=acting_staff(request),
        what="refund.export_unclaimed",
        filters=f"programme={programme.pk}",
        row_count=totals.holders,
        ip=client_ip(request),
        permission=REPORT_PERMISSION,
    )
    rows = unclaimed_csv_rows(programme)  # the header first, then the holders
    return csv_streaming_response(filename="unclaimed-balances.csv", header=next(rows), rows=rows, bom=False)


urlpatterns: list[URLPattern] = [
    path("reports/", reports, name="reports"),
    path("reports/export/<str:table>.csv", reports_export, name="reports_export"),
    path("reports/unclaimed/", unclaimed_report, name="unclaimed"),
    path("reports/unclaimed.csv", unclaimed_export, name="unclaimed_export"),
]
