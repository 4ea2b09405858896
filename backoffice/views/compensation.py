"""Compensation pages: the list (filters, search, CSV), the request page for a case
or a hunt's cases (what will be paid how, what is skipped and why), and the
totals report for the regulator (by method and by day, with CSV)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from wallet.csv_export import csv_response
from wallet.money_format import yen_text
from wallet.request_meta import client_ip

from ..models import Case, Compensation, Hunt
from ..selectors.compensation import (
    CompensationFilters,
    CompensationReport,
    compensation_csv_rows,
    compensation_list,
    compensation_report,
    compensation_report_csv_rows,
    compensation_target_cases,
    failure_text,
)
from ..services.compensation import (
    COMPENSATION_REQUEST_PERMISSION,
    METHOD_AUTO,
    METHOD_CHOICES,
    CompensationPlan,
    CompensationRefused,
    compensation_export_record,
    compensation_plan,
    compensation_request,
)
from .base import acting_staff, staff_page, staff_render

VIEW_PERMISSION = "backoffice.view_compensation"
REPORT_PERMISSION = "backoffice.report_compensation"
PAGE_SIZE = 50
# The report chart: one bar per day, stacked by method (server-drawn SVG, no script).
CHART_WIDTH, CHART_HEIGHT, CHART_GAP, MAX_BAR_SLOT = 640, 180, 2, 40
METHOD_COLOURS: dict[str, str] = {Compensation.Method.CARD_REFUND: "#417690", Compensation.Method.LEDGER: "#79aec8"}


def _csv_response(rows: Iterator[list[str]], filename: str) -> HttpResponse:
    """The selectors yield the header first, then the rows."""
    return csv_response(filename=filename, header=next(rows), rows=rows, bom=False)


# -- the list ---------------------------------------------------------------------------------


class CompensationFilterForm(forms.Form):
    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("Any state")), *Compensation.State.choices])
    method = forms.ChoiceField(label=_("Method"), required=False, choices=[("", _("Any method")), *Compensation.Method.choices])
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=254,
        help_text=_("Customer email, or a compensation, case or approval number."),
        widget=forms.SearchInput(attrs={"autocomplete": "off"}),
    )
    approval = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    case = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def filters(self) -> CompensationFilters:
        if not self.is_bound or not self.is_valid():
            return CompensationFilters()
        data = self.cleaned_data
        return CompensationFilters(state=data["state"], method=data["method"], q=data["q"], approval=data["approval"], case=data["case"])


@require_GET
@staff_page(VIEW_PERMISSION)
def compensation_list_page(request: HttpRequest) -> HttpResponse:
    form = CompensationFilterForm(request.GET or None)
    page = Paginator(compensation_list(form.filters()), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filter_form": form,
        "page": page,
        "rows": [(row, failure_text(row.failure)) for row in page],
        "filter_query": query.urlencode(),
        "may_report": request.user.has_perm(REPORT_PERMISSION),
        "may_view_customer": request.user.has_perm("wallet.view_user"),
        "may_view_case": request.user.has_perm("backoffice.view_case"),
    }
    return staff_render(
        request, "admin/backoffice/compensation/list.html", context, title=gettext("Compensation"), status=400 if form.errors else 200
    )


@require_GET
@staff_page(VIEW_PERMISSION)
def compensation_export(request: HttpRequest) -> HttpResponse:
    form = CompensationFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        messages.error(request, gettext("Those filters are not valid; nothing was exported."))
        return HttpResponseRedirect(reverse("admin:incident_compensation_list"))
    rows = compensation_list(form.filters())
    compensation_export_record(
        acting_user=acting_staff(request), what="list", filters=request.GET.urlencode(), row_count=rows.count(), ip=client_ip(request)
    )
    return _csv_response(compensation_csv_rows(rows), "compensation.csv")


# -- the request page ----------------------------------------------------------------------------


class PlanForm(forms.Form):
    """What the request is about (from the query string) and how to pay."""

    case = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    hunt = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    method = forms.ChoiceField(
        label=_("How to pay"),
        choices=METHOD_CHOICES,
        initial=METHOD_AUTO,
        required=False,
        widget=forms.Select(attrs={"aria-describedby": "method-help"}),
        help_text=_(
            "Automatic: card top-ups go back to the card, store payments to the wallet. "
            "Everything to the wallet: for a card that is closed."
        ),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("case")) == bool(data.get("hunt")):
            raise forms.ValidationError(_("Open this page from a case or from a hunt."))
        data["method"] = data.get("method") or METHOD_AUTO
        return data


class RequestForm(PlanForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required. The approver reads it; it is kept in the audit log."),
    )
    transaction = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=[])


@dataclass(frozen=True)
class Target:
    cases: list[Case]
    hunt: Hunt | None
    case: Case | None


def _target(data: dict[str, Any]) -> Target:
    if data.get("hunt"):
        hunt = Hunt.objects.filter(pk=data["hunt"]).first()
        if hunt is None:
            raise Http404(gettext("There is no such hunt."))
        return Target(cases=compensation_target_cases(hunt=hunt), hunt=hunt, case=None)
    case = Case.objects.select_related("customer").filter(pk=data["case"]).first()
    if case is None:
        raise Http404(gettext("There is no such case."))
    return Target(cases=compensation_target_cases(case=case), hunt=None, case=case)


def _new_page(
    request: HttpRequest,
    target: Target,
    plan: CompensationPlan,
    plan_form: PlanForm,
    request_form: RequestForm,
    *,
    selected: set[int] | None = None,
    status: int = 200,
) -> HttpResponse:
    if target.hunt is not None:
        title = gettext("Request compensation for hunt #%(hunt)s") % {"hunt": target.hunt.pk}
    else:
        assert target.case is not None
        title = gettext("Request compensation for case #%(case)s") % {"case": target.case.pk}
    context = {
        "target": target,
        "plan": plan,
        "plan_form": plan_form,
        "form": request_form,
        # A line is ticked when it will be paid and, after a refused submit, when it was ticked then.
        "lines": [(line, line.will_pay and (selected is None or line.row.pk in selected)) for line in plan.lines],
        "choose_lines": target.case is not None,
        "may_view_case": request.user.has_perm("backoffice.view_case"),
    }
    return staff_render(request, "admin/backoffice/compensation/new.html", context, title=title, status=status)


@staff_page(VIEW_PERMISSION, COMPENSATION_REQUEST_PERMISSION)
def compensation_new_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _new_post(request)
    plan_form = PlanForm(request.GET)
    if not plan_form.is_valid():
        return staff_render(
            request,
            "admin/backoffice/compensation/new.html",
            {"plan_form": plan_form, "plan": None},
            title=gettext("Request compensation"),
            status=400,
        )
    target = _target(plan_form.cleaned_data)
    plan = compensation_plan(cases=target.cases, method=plan_form.cleaned_data["method"])
    request_form = RequestForm(initial=plan_form.cleaned_data)
    return _new_page(request, target, plan, plan_form, request_form)


def _new_post(request: HttpRequest) -> HttpResponse:
    form = RequestForm(request.POST)
    # The choices are the cases' transactions; checked against them by the service, not here.
    field = form.fields["transaction"]
    assert isinstance(field, forms.TypedMultipleChoiceField)
    field.choices = [(value, value) for value in request.POST.getlist("transaction")]
    plan_form = PlanForm(request.POST)
    if not plan_form.is_valid():
        messages.error(request, gettext("Open this page from a case or from a hunt."))
        return HttpResponseRedirect(reverse("admin:incident_compensation_list"))
    target = _target(plan_form.cleaned_data)
    method = plan_form.cleaned_data["method"]
    selected = {int(v) for v in request.POST.getlist("transaction") if v.isdigit()}

    def refused() -> HttpResponse:
        plan = compensation_plan(cases=target.cases, method=method)
        return _new_page(request, target, plan, plan_form, form, selected=selected if target.case else None, status=400)

    if not form.is_valid():
        return refused()
    chosen = form.cleaned_data["transaction"] if target.case is not None else None
    if chosen is not None and not chosen:
        form.add_error(None, gettext("Choose at least one transaction to compensate."))
        return refused()
    try:
        result = compensation_request(
            case=target.case,
            hunt=target.hunt,
            transactions=chosen,
            method=method,
            reason=form.cleaned_data["reason"],
            acting_user=acting_staff(request),
            ip=client_ip(request),
        )
    except CompensationRefused as exc:
        form.add_error(None, exc.message)
        return refused()
    count = len(result.compensations)
    messages.success(
        request,
        ngettext(
            "Compensation of ¥%(total)s for %(count)s transaction is waiting for a second person to approve it.",
            "Compensation of ¥%(total)s for %(count)s transactions is waiting for a second person to approve it.",
            count,
        )
        % {"total": f"{result.total_yen:,}", "count": count},
    )
    if result.skipped:
        messages.info(
            request,
            ngettext(
                "%(count)s transaction was skipped; the request page says why.",
                "%(count)s transactions were skipped; the request page says why.",
                len(result.skipped),
            )
            % {"count": len(result.skipped)},
        )
    return HttpResponseRedirect(reverse("admin:backoffice_approval_change", args=[result.approval.pk]))


# -- the regulator's report ------------------------------------------------------------------------


class ReportForm(forms.Form):
    date_from = forms.DateField(label=_("Paid from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Paid until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date must not be after the end date."))
        return data


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    y: float
    height: float
    colour: str
    title: str


def _chart(report: CompensationReport) -> list[Bar]:
    """Stacked bars of yen per day, scaled to the tallest day."""
    if not report.days or not report.max_day_yen:
        return []
    # A few days would make a few very wide bars; keep them at most MAX_BAR_SLOT wide, from the left.
    slot = min(CHART_WIDTH / len(report.days), MAX_BAR_SLOT)
    width = max(slot - CHART_GAP, 1.0)
    bars = []
    for index, day in enumerate(report.days):
        bottom = float(CHART_HEIGHT)
        for method in Compensation.Method.values:
            totals = day.by_method.get(method)
            if totals is None or not totals.yen:
                continue
            height = CHART_HEIGHT * totals.yen / report.max_day_yen
            bottom -= height
            label = f"{day.day:%Y-%m-%d} {Compensation.Method(method).label}: {yen_text(totals.yen)}"
            bars.append(
                Bar(
                    x=round(index * slot, 2),
                    width=round(width, 2),
                    y=round(bottom, 2),
                    height=round(height, 2),
                    colour=METHOD_COLOURS[method],
                    title=label,
                )
            )
    return bars


def _report_dates(form: ReportForm) -> tuple[date | None, date | None]:
    if not form.is_bound or not form.is_valid():
        return None, None
    return form.cleaned_data["date_from"], form.cleaned_data["date_to"]


@require_GET
@staff_page(REPORT_PERMISSION)
def compensation_report_page(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.GET or None)
    date_from, date_to = _report_dates(form)
    report = compensation_report(date_from=date_from, date_to=date_to)
    context = {
        "form": form,
        "report": report,
        "methods": [(method, label, report.by_method[method], METHOD_COLOURS[method]) for method, label in Compensation.Method.choices],
        "days": [(day, [(label, day.by_method.get(method)) for method, label in Compensation.Method.choices]) for day in report.days],
        "first_day": report.days[0].day if report.days else None,
        "last_day": report.days[-1].day if report.days else None,
        "bars": _chart(report),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "filter_query": request.GET.urlencode(),
    }
    return staff_render(
        request,
        "admin/backoffice/compensation/report.html",
        context,
        title=gettext("Compensation report"),
        status=400 if form.errors else 200,
    )


@require_GET
@staff_page(REPORT_PERMISSION)
def compensation_report_export(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.GET or None)
    if request.GET and not form.is_valid():
        messages.error(request, gettext("Those dates are not valid; nothing was exported."))
        return HttpResponseRedirect(reverse("admin:incident_compensation_report"))
    date_from, date_to = _report_dates(form)
    report = compensation_report(date_from=date_from, date_to=date_to)
    compensation_export_record(
        acting_user=acting_staff(request), what="report", filters=request.GET.urlencode(), row_count=len(report.days), ip=client_ip(request)
    )
    return _csv_response(compensation_report_csv_rows(report), "compensation-report.csv")


urlpatterns: list[URLPattern] = [
    path("compensation/", compensation_list_page, name="incident_compensation_list"),
    path("compensation/export.csv", compensation_export, name="incident_compensation_export"),
    path("compensation/new/", compensation_new_page, name="incident_compensation_new"),
    path("compensation/report/", compensation_report_page, name="incident_compensation_report"),
    path("compensation/report.csv", compensation_report_export, name="incident_compensation_report_export"),
]
