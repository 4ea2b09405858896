"""Cases: a filtered list with CSV export and a form to open a case from a
customer's email; one case with its transactions and totals, the status
pipeline (buttons only for allowed moves), history, notes, adding a
transaction, the customer's freezes and the case's compensation."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from wallet.csv_export import csv_streaming_response
from wallet.models import AccountFreeze
from wallet.request_meta import client_ip
from wallet.selectors import wallet_balance

from ..models import Case
from ..selectors.cases import (
    OPEN,
    CaseFilters,
    case_compensations,
    case_csv_rows,
    case_events,
    case_list,
    case_totals,
    case_transactions,
    customer_freezes,
    customer_recent_transactions,
)
from ..services.cases import (
    CaseRefused,
    case_customer_freeze,
    case_note_add,
    case_open_manual,
    case_status_set,
    case_transaction_add_by_reference,
)
from ..services.exports import export_record
from ..services.freezes import FREEZE_PERMISSION, FreezeRefused
from .base import acting_staff, staff_page, staff_render

VIEW_PERMISSION = "backoffice.view_case"
OPEN_PERMISSION = "backoffice.add_case"
WORK_PERMISSION = "backoffice.change_case"
PAGE_SIZE = 50
# The main road of the pipeline, drawn as steps; "not fraud" is the side exit.
PIPELINE = ("open", "investigating", "confirmed", "compensating", "compensated", "closed")
EVENT_LABELS: dict[str, Any] = {
    "opened": _("Opened"),
    "joined": _("Reported again"),
    "transactions_added": _("Transactions added"),
    "status": _("Status changed"),
    "note": _("Note"),
    "freeze": _("Account frozen"),
}


def _token() -> str:
    return secrets.token_urlsafe(16)


class CaseFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[(OPEN, _("All open cases")), ("", _("All cases")), *Case.Status.choices],
        initial=OPEN,
    )
    source = forms.ChoiceField(label=_("Opened from"), required=False, choices=[("", _("Any source")), *Case.Source.choices])
    q = forms.CharField(label=_("Customer email"), required=False, max_length=254, widget=forms.SearchInput(attrs={"autocomplete": "off"}))

    def filters(self) -> CaseFilters:
        if not self.is_bound:
            return CaseFilters()
        if not self.is_valid():
            return CaseFilters()
        data = self.cleaned_data
        return CaseFilters(status=data["status"], source=data["source"], q=data["q"])


class CaseOpenForm(forms.Form):
    email = forms.EmailField(label=_("Customer email"), max_length=254)
    summary = forms.CharField(label=_("Why"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    form_token = forms.CharField(widget=forms.HiddenInput, max_length=64)


class CaseStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Case.Status.choices)
    current = forms.ChoiceField(choices=Case.Status.choices)
    note = forms.CharField(required=False, max_length=2000)


class CaseNoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    form_token = forms.CharField(widget=forms.HiddenInput, max_length=64)


class CaseTransactionForm(forms.Form):
    reference = forms.CharField(
        label=_("Transfer id or public id"),
        max_length=64,
        help_text=_("The number of the ledger transfer, or the reference the customer sees (of the transaction, top-up or payment)."),
    )


class CaseFreezeForm(forms.Form):
    scope = forms.ChoiceField(label=_("What the freeze stops"), choices=AccountFreeze.Scope.choices, initial=AccountFreeze.Scope.ALL)
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


def _status_label(status: str) -> str:
    return str(Case.Status(status).label) if status in Case.Status.values else status


def _case_or_404(pk: int) -> Case:
    case = Case.objects.select_related("customer", "opened_by", "hunt").filter(pk=pk).first()
    if case is None:
        raise Http404(gettext("There is no such case."))
    return case


def _detail_url(case: Case | int) -> str:
    return reverse("admin:incident_case_detail", args=[case.pk if isinstance(case, Case) else case])


def _compensation_new_url(case: Case) -> str | None:
    """The compensation request page for this case, once that page exists."""
    try:
        return f"{reverse('admin:incident_compensation_new')}?case={case.pk}"
    except NoReverseMatch:
        return None


@staff_page(VIEW_PERMISSION)
def case_list_page(request: HttpRequest) -> HttpResponse:
    open_form = CaseOpenForm(initial={"form_token": _token()})
    if request.method == "POST":
        if not request.user.has_perm(OPEN_PERMISSION):
            raise PermissionDenied
        open_form = CaseOpenForm(request.POST)
        if open_form.is_valid():
            try:
                case, opened = case_open_manual(
                    email=open_form.cleaned_data["email"],
                    summary=open_form.cleaned_data["summary"],
                    acting_user=acting_staff(request),
                    ip=client_ip(request),
                    form_token=open_form.cleaned_data["form_token"],
                )
            except CaseRefused as exc:
                open_form.add_error(None, exc.message)
            else:
                if opened:
                    messages.success(request, gettext("Case #%(case)s opened.") % {"case": case.pk})
                else:
                    joined = gettext("This customer already has open case #%(case)s; your reason was added to it.")
                    messages.info(request, joined % {"case": case.pk})
                return HttpResponseRedirect(_detail_url(case))
    filter_form = CaseFilterForm(request.GET or None)
    cases = case_list(filter_form.filters())
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filter_form": filter_form,
        "open_form": open_form,
        "page": page,
        "filter_query": query.urlencode(),
        "may_open": request.user.has_perm(OPEN_PERMISSION),
        "may_view_customer": request.user.has_perm("wallet.view_user"),
    }
    status = 400 if open_form.errors or filter_form.errors else 200
    return staff_render(request, "admin/backoffice/cases/list.html", context, title=gettext("Cases"), status=status)


@require_GET
@staff_page(VIEW_PERMISSION)  # type: ignore[arg-type]  # a streamed CSV is an HttpResponseBase, not an HttpResponse
def case_export(request: HttpRequest) -> HttpResponseBase:
    form = CaseFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        messages.error(request, gettext("Those filters are not valid; nothing was exported."))
        return HttpResponseRedirect(reverse("admin:incident_case_list"))
    cases = case_list(form.filters())
    export_record(
        acting_user=acting_staff(request),
        what="case.export",
        filters=request.GET.urlencode(),
        row_count=cases.count(),
        ip=client_ip(request),
        permission=VIEW_PERMISSION,
    )
    rows = case_csv_rows(cases)  # the header first, then the cases
    return csv_streaming_response(filename="cases.csv", header=next(rows), rows=rows, bom=False)


@require_GET
@staff_page(VIEW_PERMISSION)
def case_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_response(request, _case_or_404(pk))


def _detail_response(request: HttpRequest, case: Case, forms_with_errors: dict[str, forms.Form] | None = None) -> HttpResponse:
    """The case page; with ``forms_with_errors`` it shows a refused form again (status 400, nothing changed)."""
    user = request.user
    rows = case_transactions(case)
    may_work = user.has_perm(WORK_PERMISSION)
    bound = forms_with_errors or {}
    context = {
        "case": case,
        "customer": case.customer,
        "balance_yen": wallet_balance(case.customer),
        "rows": rows,
        "totals": case_totals(rows),
        "events": [
            {
                "event": event,
                "label": EVENT_LABELS.get(event.kind, event.kind),
                "from": _status_label(event.from_status),
                "to": _status_label(event.to_status),
            }
            for event in case_events(case)
        ],
        "pipeline": [(status, Case.Status(status).label) for status in PIPELINE],
        "moves": [(status, Case.Status(status).label) for status in Case.TRANSITIONS.get(case.status, ())],
        "other_cases": Case.objects.filter(customer=case.customer).exclude(pk=case.pk).order_by("-opened_at")[:10],
        "freezes": customer_freezes(case.customer) if user.has_perm("wallet.view_accountfreeze") else None,
        "compensations": case_compensations(case) if user.has_perm("backoffice.view_compensation") else None,
        "compensation_new_url": _compensation_new_url(case) if user.has_perm("backoffice.add_compensation") else None,
        "candidates": customer_recent_transactions(case) if may_work else [],
        "may_work": may_work,
        "may_freeze": may_work and user.has_perm(FREEZE_PERMISSION),
        "may_view_customer": user.has_perm("wallet.view_user"),
        "may_view_freezes": user.has_perm("wallet.view_accountfreeze"),
        "note_form": bound.get("note") or CaseNoteForm(initial={"form_token": _token()}),
        "transaction_form": bound.get("transaction") or CaseTransactionForm(),
        "freeze_form": bound.get("freeze") or CaseFreezeForm(),
    }
    title = gettext("Case #%(case)s: %(customer)s") % {"case": case.pk, "customer": case.customer.email}
    return staff_render(request, "admin/backoffice/cases/detail.html", context, title=title, status=400 if bound else 200)


@require_POST
@staff_page(VIEW_PERMISSION, WORK_PERMISSION)
def case_status_view(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case_or_404(pk)
    form = CaseStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("That status change was not understood. Nothing was changed."))
        return HttpResponseRedirect(_detail_url(case))
    try:
        moved = case_status_set(
            case=case,
            status=form.cleaned_data["status"],
            acting_user=acting_staff(request),
            note=form.cleaned_data["note"],
            ip=client_ip(request),
            expected_from=form.cleaned_data["current"],
        )
    except CaseRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("The case is now “%(status)s”.") % {"status": moved.get_status_display()})
    return HttpResponseRedirect(_detail_url(case))


@require_POST
@staff_page(VIEW_PERMISSION, WORK_PERMISSION)
def case_note_view(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case_or_404(pk)
    form = CaseNoteForm(request.POST)
    if not form.is_valid():
        return _detail_response(request, case, {"note": form})
    try:
        case_note_add(
            case=case,
            acting_user=acting_staff(request),
            note=form.cleaned_data["note"],
            form_token=form.cleaned_data["form_token"],
            ip=client_ip(request),
        )
    except CaseRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("Note added."))
    return HttpResponseRedirect(_detail_url(case))


@require_POST
@staff_page(VIEW_PERMISSION, WORK_PERMISSION)
def case_transaction_view(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case_or_404(pk)
    form = CaseTransactionForm(request.POST)
    if not form.is_valid():
        return _detail_response(request, case, {"transaction": form})
    try:
        row = case_transaction_add_by_reference(
            case=case, reference=form.cleaned_data["reference"], acting_user=acting_staff(request), ip=client_ip(request)
        )
    except CaseRefused as exc:
        if exc.code == CaseRefused.Code.ALREADY_ADDED:
            messages.error(request, exc.message)
            return HttpResponseRedirect(_detail_url(case))
        form.add_error("reference", exc.message)
        return _detail_response(request, case, {"transaction": form})
    messages.success(request, gettext("Added: %(transaction)s.") % {"transaction": row})
    return HttpResponseRedirect(_detail_url(case))


@require_POST
@staff_page(VIEW_PERMISSION, WORK_PERMISSION, FREEZE_PERMISSION)
def case_freeze_view(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case_or_404(pk)
    form = CaseFreezeForm(request.POST)
    if not form.is_valid():
        return _detail_response(request, case, {"freeze": form})
    try:
        case_customer_freeze(
            case=case,
            scope=form.cleaned_data["scope"],
            reason=form.cleaned_data["reason"],
            acting_user=acting_staff(request),
            ip=client_ip(request),
        )
    except CaseRefused as exc:
        messages.error(request, exc.message)
    except FreezeRefused as exc:
        form.add_error(None, exc.message)
        return _detail_response(request, case, {"freeze": form})
    else:
        messages.success(request, gettext("Frozen. The customer's sessions and API tokens have ended."))
    return HttpResponseRedirect(_detail_url(case))


urlpatterns: list[URLPattern] = [
    path("cases/", case_list_page, name="incident_case_list"),
    path("cases/export.csv", case_export, name="incident_case_export"),
    path("cases/<int:pk>/", case_detail_page, name="incident_case_detail"),
    path("cases/<int:pk>/status/", case_status_view, name="incident_case_status"),
    path("cases/<int:pk>/note/", case_note_view, name="incident_case_note"),
    path("cases/<int:pk>/transaction/", case_transaction_view, name="incident_case_transaction"),
    path("cases/<int:pk>/freeze/", case_freeze_view, name="incident_case_freeze"),
]
