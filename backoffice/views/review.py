"""The review queue page: one list of held top-ups, payments declined for review,
other review decisions, customers' reports and hunt hits, with filters, search,
CSV export, and an analyst's actions per row (POST, through ``services.review``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from wallet.csv_export import csv_streaming_response
from wallet.request_meta import client_ip

from ..selectors.review import CHANNELS, KINDS, ReviewFilters, review_csv_rows, review_queue, review_queue_counts, review_rows
from ..services.exports import export_record
from ..services.review import ACTIONS, ITEM_KINDS, WORK_PERMISSION, ReviewRefused, review_act
from .base import acting_staff, staff_page, staff_render

VIEW_PERMISSION = "wallet.view_riskdecision"
PAGE_SIZE = 50


class ReviewFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds")), *KINDS.items()])
    channel = forms.ChoiceField(label=_("Channel"), required=False, choices=[("", _("All channels")), *CHANNELS.items()])
    amount_min = forms.IntegerField(label=_("Amount from (yen)"), required=False, min_value=0)
    amount_max = forms.IntegerField(label=_("Amount up to (yen)"), required=False, min_value=0)
    date_from = forms.DateField(label=_("From date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Until date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(label=_("Customer email"), required=False, max_length=254, widget=forms.SearchInput(attrs={"autocomplete": "off"}))
    order = forms.ChoiceField(
        label=_("Order"), required=False, choices=[("oldest", _("Oldest first")), ("newest", _("Newest first"))], initial="oldest"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("amount_min"), data.get("amount_max")
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", _("The upper amount must not be below the lower one."))
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date must not be before the start date."))
        return data

    def filters(self) -> ReviewFilters:
        if not self.is_valid():
            return ReviewFilters()
        data = self.cleaned_data
        return ReviewFilters(
            kind=data["kind"],
            channel=data["channel"],
            amount_min=data["amount_min"],
            amount_max=data["amount_max"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            q=data["q"],
            newest_first=data["order"] == "newest",
        )


class ReviewActionForm(forms.Form):
    kind = forms.ChoiceField(choices=[(k, k) for k in ITEM_KINDS])
    item = forms.IntegerField(min_value=1)
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    reason = forms.CharField(required=False, max_length=1000)
    back = forms.CharField(required=False, max_length=2000)


def _queue_url(query: str = "") -> str:
    """The queue's address with the analyst's filters again; only known filter names survive."""
    allowed = [*ReviewFilterForm.base_fields, "page"]
    kept = QueryDict(mutable=True)
    for name, values in QueryDict(query).lists():
        if name in allowed:
            kept.setlist(name, values[:1])
    encoded = kept.urlencode()
    return reverse("admin:incident_review") + (f"?{encoded}" if encoded else "")


@require_GET
@staff_page(VIEW_PERMISSION)
def review_page(request: HttpRequest) -> HttpResponse:
    form = ReviewFilterForm(request.GET or None)
    filters = form.filters()
    paginator = Paginator(review_queue(filters), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = review_rows(list(page.object_list))
    query = request.GET.copy()
    query.pop("page", None)
    user = request.user
    context = {
        "form": form,
        "rows": rows,
        "page": page,
        "counts": review_queue_counts(),
        "filter_query": query.urlencode(),
        "back": request.GET.urlencode(),
        "may_act": user.has_perm(WORK_PERMISSION),
        "may_freeze": user.has_perm(WORK_PERMISSION) and user.has_perm("wallet.add_accountfreeze"),
        "may_view_customer": user.has_perm("wallet.view_user"),
        "may_view_case": user.has_perm("backoffice.view_case"),
    }
    return staff_render(
        request, "admin/backoffice/review/queue.html", context, title=gettext("Review queue"), status=400 if form.errors else 200
    )


@require_POST
@staff_page(VIEW_PERMISSION, WORK_PERMISSION)
def review_act_view(request: HttpRequest) -> HttpResponse:
    form = ReviewActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("That action was not understood. Nothing was changed."))
        return HttpResponseRedirect(_queue_url(request.POST.get("back", "")))
    data = form.cleaned_data
    try:
        result = review_act(
            kind=data["kind"],
            item_id=data["item"],
            action=data["action"],
            acting_user=acting_staff(request),
            reason=data["reason"],
            ip=client_ip(request),
        )
    except ReviewRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, result.message)
    return HttpResponseRedirect(_queue_url(data["back"]))


@require_GET
@staff_page(VIEW_PERMISSION)  # type: ignore[arg-type]  # a streamed CSV is an HttpResponseBase, not an HttpResponse
def review_export(request: HttpRequest) -> HttpResponseBase:
    form = ReviewFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        messages.error(request, gettext("Those filters are not valid; nothing was exported."))
        return HttpResponseRedirect(_queue_url(request.GET.urlencode()))
    filters = form.filters()
    export_record(
        acting_user=acting_staff(request),
        what="review.export",
        filters=request.GET.urlencode(),
        row_count=review_queue(filters).count(),
        ip=client_ip(request),
        permission=VIEW_PERMISSION,
    )
    rows = review_csv_rows(filters)  # the header first, then the queue
    return csv_streaming_response(filename="review-queue.csv", header=next(rows), rows=rows, bom=False)


urlpatterns: list[URLPattern] = [
    path("review/", review_page, name="incident_review"),
    path("review/act/", review_act_view, name="incident_review_act"),
    path("review/export.csv", review_export, name="incident_review_export"),
]
