"""Look-back hunt pages: the list with the start form, a hunt's page (progress,
estimate, hits with filters, CSV export, opening cases in bulk), its progress as
JSON for the bar, and the cancel and open-cases actions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.queues import BULK_QUEUE
from wallet.csv_export import csv_streaming_response
from wallet.request_meta import client_ip

from ..models import Hunt
from ..selectors.hunts import (
    HIT_CASE_FILTERS,
    HIT_SORTS,
    HuntPreset,
    hunt_estimate_text,
    hunt_hits_csv_rows,
    hunt_hits_filtered,
    hunt_params_text,
    hunt_presets,
    hunt_progress,
    hunts_recent,
)
from ..services.exports import export_record
from ..services.hunts import HUNT_RULES, SEE_HITS_PERMISSION, HuntRefused, hunt_cancel, hunt_cases_open, hunt_start
from .base import acting_staff, staff_page, staff_render

# Selections up to this many hits are opened in the request; more go to the bulk queue.
CASES_INLINE_MAX = 500
HITS_PER_PAGE = 100
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class _DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format=DATETIME_LOCAL)


class HuntStartForm(forms.Form):
    preset = forms.ChoiceField(label=_("Rule"), help_text=_("The risk rule to replay, with its current thresholds."))
    thresholds = forms.CharField(
        label=_("Thresholds"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "vLargeTextField"}),
        help_text=_("Optional. JSON with thresholds to use instead of the rule's, e.g. {\"hours\": 12}. Empty: the rule's own."),
    )
    period_start = forms.DateTimeField(label=_("From"), widget=_DateTimeLocal(), input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"])
    period_end = forms.DateTimeField(
        label=_("Until"),
        widget=_DateTimeLocal(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        help_text=_("Events from the start up to (not including) the end. At most a year and a day; not in the future."),
    )

    def __init__(self, *args: Any, presets: list[HuntPreset], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.presets = {preset.value: preset for preset in presets}
        preset_field = self.fields["preset"]
        assert isinstance(preset_field, forms.ChoiceField)
        preset_field.choices = [(preset.value, preset.label) for preset in presets]

    def clean_thresholds(self) -> dict[str, Any]:
        text = self.cleaned_data["thresholds"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("This is not valid JSON.")) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Write the thresholds as a JSON object, e.g. {"hours": 12}.'))
        return value


def _initial_period() -> dict[str, Any]:
    end = timezone.localtime().replace(second=0, microsecond=0)
    return {"period_start": end - timedelta(days=7), "period_end": end}


@staff_page("backoffice.view_hunt")
@require_http_methods(["GET", "POST"])
def hunt_list(request: HttpRequest) -> HttpResponse:
    user = acting_staff(request)
    can_start = user.has_perm("backoffice.add_hunt")
    presets = hunt_presets() if can_start else []
    form = HuntStartForm(request.POST or None, presets=presets, initial=_initial_period())
    status = 200
    if request.method == "POST":
        if not can_start:
            raise PermissionDenied
        if form.is_valid():
            preset = form.presets[form.cleaned_data["preset"]]
            try:
                hunt = hunt_start(
                    rule_kind=preset.kind,
                    params={**preset.params, **form.cleaned_data["thresholds"]},
                    period_start=form.cleaned_data["period_start"],
                    period_end=form.cleaned_data["period_end"],
                    acting_user=user,
                    ip=client_ip(request),
                )
            except HuntRefused as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, gettext("Hunt #%(id)s started. This page follows its progress.") % {"id": hunt.pk})
                return HttpResponseRedirect(reverse("admin:incident_hunt_detail", args=[hunt.pk]))
        status = 400
    hunts = [
        {
            "hunt": hunt,
            "label": HUNT_RULES[hunt.rule_kind].label if hunt.rule_kind in HUNT_RULES else hunt.rule_kind,
            "estimate": hunt_estimate_text(hunt.customers_count, hunt.damage_yen),
        }
        for hunt in hunts_recent()
    ]
    context = {
        "form": form,
        "can_start": can_start,
        "presets": presets,
        "presets_json": {preset.value: preset.params for preset in presets},
        "hunts": hunts,
    }
    return staff_render(request, "admin/backoffice/hunts/list.html", context, title=gettext("Look-back hunts"), status=status)


def _hit_filters(request: HttpRequest) -> dict[str, Any]:
    min_yen_text = request.GET.get("min_yen", "").replace(",", "").strip()
    case = request.GET.get("case", "any")
    sort = request.GET.get("sort", "-amount")
    return {
        "q": request.GET.get("q", "")[:200],
        "min_yen": int(min_yen_text) if min_yen_text.isdigit() else None,
        "case": case if case in HIT_CASE_FILTERS else "any",
        "sort": sort if sort in HIT_SORTS else "-amount",
    }


def _case_url(case_id: int) -> str | None:
    try:
        return reverse("admin:incident_case_detail", args=[case_id])
    except NoReverseMatch:
        return None


def _customer_url(customer_id: int) -> str | None:
    try:
        return reverse("admin:wallet_user_change", args=[customer_id])
    except NoReverseMatch:
        return None


@staff_page("backoffice.view_hunt", "backoffice.view_hunthit")
@require_GET
def hunt_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_staff(request)
    hunt = get_object_or_404(Hunt.objects.select_related("created_by"), pk=pk)
    filters = _hit_filters(request)
    hits = hunt_hits_filtered(hunt, **filters)
    page = Paginator(hits, HITS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "hit": hit,
            "customer_url": _customer_url(hit.customer_id) if user.has_perm("wallet.view_user") else None,
            "case_url": _case_url(hit.case_id) if hit.case_id else None,
        }
        for hit in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    rule = HUNT_RULES.get(hunt.rule_kind)
    running = hunt.state in (Hunt.State.QUEUED, Hunt.State.RUNNING)
    context = {
        "hunt": hunt,
        "rule_label": rule.label if rule else hunt.rule_kind,
        "measures": rule.measures if rule else "",
        "params": hunt_params_text(hunt.params),
        "progress": hunt_progress(hunt),
        "running": running,
        "filters": filters,
        "sorts": [
            ("-amount", gettext("Most yen first")),
            ("amount", gettext("Least yen first")),
            ("-transactions", gettext("Most transactions first")),
            ("first", gettext("Earliest first")),
            ("-last", gettext("Latest last activity first")),
            ("customer", gettext("Customer email")),
        ],
        "case_filters": [("any", gettext("All hits")), ("without", gettext("Without a case")), ("with", gettext("With a case"))],
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "can_cancel": running and user.has_perm("backoffice.add_hunt"),
        "can_open_cases": not running and user.has_perm("backoffice.add_case"),
        "cases_inline_max": CASES_INLINE_MAX,
        "hits_without_case": hunt.hits.filter(case__isnull=True).count(),
    }
    return staff_render(request, "admin/backoffice/hunts/detail.html", context, title=gettext("Look-back hunt #%(id)s") % {"id": hunt.pk})


@staff_page("backoffice.view_hunt")
@require_GET
def hunt_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    hunt = get_object_or_404(Hunt, pk=pk)
    response = JsonResponse(hunt_progress(hunt))
    response["Cache-Control"] = "no-store"
    return response


@staff_page("backoffice.view_hunt", "backoffice.add_hunt")
@require_POST
def hunt_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    hunt = get_object_or_404(Hunt, pk=pk)
    try:
        hunt_cancel(hunt=hunt, acting_user=acting_staff(request), ip=client_ip(request))
    except HuntRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("Hunt cancelled. The hits found so far are kept."))
    return HttpResponseRedirect(reverse("admin:incident_hunt_detail", args=[hunt.pk]))


@staff_page("backoffice.view_hunt", "backoffice.view_hunthit", "backoffice.add_case")
@require_POST
def hunt_cases_open_view(request: HttpRequest, pk: int) -> HttpResponse:
    from ..tasks.hunts import hunt_cases_open_task

    user = acting_staff(request)
    hunt = get_object_or_404(Hunt, pk=pk)
    back = HttpResponseRedirect(reverse("admin:incident_hunt_detail", args=[hunt.pk]))
    hit_ids: list[int] | None = None
    if request.POST.get("scope") != "all":
        raw = request.POST.getlist("hit")
        if not all(value.isdigit() for value in raw):
            messages.error(request, gettext("Some of the chosen hits are not in this hunt."))
            return back
        hit_ids = [int(value) for value in raw]
    count = hunt.hits.filter(case__isnull=True).count() if hit_ids is None else len(hit_ids)
    try:
        if count > CASES_INLINE_MAX and hunt.state not in (Hunt.State.QUEUED, Hunt.State.RUNNING):
            hunt_cases_open_task.apply_async(
                kwargs={"hunt_id": hunt.pk, "hit_ids": hit_ids, "acting_user_id": user.pk, "ip": client_ip(request)}, queue=BULK_QUEUE
            )
            messages.success(
                request,
                gettext("Opening cases for %(count)s hits in the background. Reload this page to see them linked.") % {"count": count},
            )
            return back
        result = hunt_cases_open(hunt=hunt, hit_ids=hit_ids, acting_user=user, ip=client_ip(request))
    except HuntRefused as exc:
        messages.error(request, exc.message)
        return back
    messages.success(
        request,
        gettext("Cases: %(opened)s opened, %(joined)s joined to an open case, %(skipped)s hits skipped (they already had one).")
        % {"opened": result.opened, "joined": result.joined, "skipped": result.skipped},
    )
    return back


@staff_page("backoffice.view_hunt", "backoffice.view_hunthit")
@require_GET
def hunt_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The hits as the page filters and sorts them, as CSV. The export is audited first."""
    hunt = get_object_or_404(Hunt, pk=pk)
    hits = hunt_hits_filtered(hunt, **_hit_filters(request))
    export_record(
        acting_user=acting_staff(request),
        what="hunt.export",
        filters=request.GET.urlencode(),
        row_count=hits.count(),
        ip=client_ip(request),
        permission=SEE_HITS_PERMISSION,
        target=hunt,
    )
    rows = hunt_hits_csv_rows(hits)  # the header first, then the hits
    response = csv_streaming_response(filename=f"hunt-{hunt.pk}-hits.csv", header=next(rows), rows=rows, bom=False)
    # staff_page is typed for HttpResponse; Django serves a streaming response through the same path.
    return cast(HttpResponse, response)


urlpatterns: list[URLPattern] = [
    path("hunts/", hunt_list, name="incident_hunt_list"),
    path("hunts/<int:pk>/", hunt_detail, name="incident_hunt_detail"),
    path("hunts/<int:pk>/progress/", hunt_progress_json, name="incident_hunt_progress"),
    path("hunts/<int:pk>/cancel/", hunt_cancel_view, name="incident_hunt_cancel"),
    path("hunts/<int:pk>/cases/", hunt_cases_open_view, name="incident_hunt_cases_open"),
    path("hunts/<int:pk>/export/", hunt_export, name="incident_hunt_export"),
]
