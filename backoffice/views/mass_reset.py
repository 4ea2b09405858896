"""Mass password reset pages: the list with the request form, a job's page with its
progress bar (polled from ``progress.json`` by static/backoffice/mass_reset.js; CSP
allows no inline script) and the pause, resume and cancel buttons.

Thin: parse the form, call one service (``backoffice.services.mass_reset``), render.
Approving happens on the approval's page, by a second supervisor (B04).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wallet.csv_export import csv_response
from wallet.request_meta import client_ip

from ..models import Hunt, MassReset
from ..selectors.mass_reset import (
    LIST_STATES,
    Progress,
    filters_describe,
    mass_reset_csv_rows,
    mass_reset_history,
    mass_reset_progress,
    mass_resets_list,
)
from ..services.approvals import CHECK_PERMISSION, ApprovalRefused
from ..services.mass_reset import MassResetRefused, mass_reset_control, mass_reset_estimate, mass_reset_request
from .base import acting_staff, staff_page, staff_render

VIEW_PERMISSION = "backoffice.view_massreset"
RUN_PERMISSION = "backoffice.run_massreset"
LIST_SHOWN = 100
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class HuntChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return gettext("#%(id)s %(rule)s, %(start)s – %(end)s, %(customers)s customers") % {
            "id": obj.pk,
            "rule": obj.rule_kind,
            "start": timezone.localtime(obj.period_start).strftime("%Y-%m-%d"),
            "end": timezone.localtime(obj.period_end).strftime("%Y-%m-%d"),
            "customers": f"{obj.customers_count:,}",
        }


class MassResetRequestForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("Which customers"),
        choices=[("all", _("The whole customer base")), ("filtered", _("Customers who match the criteria below"))],
        widget=forms.RadioSelect,
        initial="filtered",
    )
    joined_from = forms.DateTimeField(label=_("Signed up from"), required=False, widget=DATETIME_INPUT, input_formats=DATETIME_FORMATS)
    joined_until = forms.DateTimeField(label=_("Signed up before"), required=False, widget=DATETIME_INPUT, input_formats=DATETIME_FORMATS)
    active_from = forms.DateTimeField(
        label=_("Active from"),
        required=False,
        widget=DATETIME_INPUT,
        input_formats=DATETIME_FORMATS,
        help_text=_("Active: logged in, or used a session, during the period."),
    )
    active_until = forms.DateTimeField(label=_("Active before"), required=False, widget=DATETIME_INPUT, input_formats=DATETIME_FORMATS)
    case_ids = forms.CharField(
        label=_("In cases"),
        required=False,
        max_length=2000,
        help_text=_("Case numbers separated by commas or spaces, for example 12, 15, 31."),
    )
    hunt = HuntChoiceField(
        label=_("Hit by the look-back hunt"),
        queryset=Hunt.objects.filter(state=Hunt.State.DONE).order_by("-created_at", "-id"),
        required=False,
        empty_label=_("(any)"),
    )
    remove_factors_after = forms.DateTimeField(
        label=_("Also remove second factors enrolled after"),
        required=False,
        widget=DATETIME_INPUT,
        input_formats=DATETIME_FORMATS,
        help_text=_(
            "Optional. Authenticator apps and backup codes set up after this time are removed: an attacker may have "
            "enrolled their own. Leave empty to keep every second factor."
        ),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required. Recorded in the audit log and shown to the supervisor who approves."),
    )

    def clean_case_ids(self) -> list[int]:
        raw = self.cleaned_data.get("case_ids", "")
        parts = [part.strip().lstrip("#") for part in raw.replace(",", " ").split()]
        try:
            return [int(part) for part in parts if part]
        except ValueError:
            raise forms.ValidationError(_("Write case numbers only, separated by commas or spaces.")) from None

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        if data.get("scope") == "all":
            criteria = [
                name for name in ("joined_from", "joined_until", "active_from", "active_until", "case_ids", "hunt") if data.get(name)
            ]
            if criteria:
                raise MassResetRefused(
                    MassResetRefused.Code.ALL_AND_FILTERS, gettext("Choose either the whole customer base or criteria, not both.")
                )
            return {"all": True}
        filters: dict[str, Any] = {
            name: data[name] for name in ("joined_from", "joined_until", "active_from", "active_until") if data.get(name)
        }
        if data.get("case_ids"):
            filters["case_ids"] = data["case_ids"]
        if data.get("hunt") is not None:
            filters["hunt_id"] = data["hunt"].pk
        return filters


def _list_filters(request: HttpRequest) -> dict[str, str]:
    state = request.GET.get("state", "")
    return {"state": state if state in LIST_STATES else "", "q": request.GET.get("q", "").strip()[:200]}


def _list_page(
    request: HttpRequest, *, form: MassResetRequestForm | None = None, estimate: int | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    may_request = user.has_perm(RUN_PERMISSION)
    filters = _list_filters(request)
    jobs = list(mass_resets_list(state=filters["state"], search=filters["q"])[:LIST_SHOWN])
    rows = [{"job": job, "who": filters_describe(job.filters)} for job in jobs]
    context: dict[str, Any] = {
        "rows": rows,
        "filters": filters,
        "states": MassReset.State.choices,
        "may_request": may_request,
        "form": form if form is not None else (MassResetRequestForm() if may_request else None),
        "estimate": estimate,
        "query": request.GET.urlencode(),
        "shown_max": LIST_SHOWN,
    }
    return staff_render(request, "admin/backoffice/mass_reset/list.html", context, title=gettext("Mass password resets"), status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_page(VIEW_PERMISSION)
def mass_reset_list(request: HttpRequest) -> HttpResponse:
    """GET: the list and the request form. POST ``action=estimate``: count the accounts;
    ``action=request``: create the request for a second supervisor."""
    if request.method == "GET":
        return _list_page(request)
    if not request.user.has_perm(RUN_PERMISSION):
        return _list_page(request, status=403)
    form = MassResetRequestForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form=form, status=400)
    try:
        filters = form.filters()
        if request.POST.get("action") != "request":
            return _list_page(request, form=form, estimate=mass_reset_estimate(filters))
        job = mass_reset_request(
            filters=filters,
            reason=form.cleaned_data["reason"],
            remove_factors_enrolled_after=form.cleaned_data.get("remove_factors_after"),
            acting_user=acting_staff(request),
            ip=client_ip(request),
        )
    except (MassResetRefused, ApprovalRefused) as refused:
        form.add_error(None, refused.message)
        return _list_page(request, form=form, status=400)
    messages.success(
        request,
        ngettext(
            "Requested: %(count)s account will be reset once a second supervisor approves.",
            "Requested: %(count)s accounts will be reset once a second supervisor approves.",
            job.accounts_estimated,
        )
        % {"count": f"{job.accounts_estimated:,}"},
    )
    return HttpResponseRedirect(reverse("admin:incident_mass_reset_detail", args=[job.pk]))


@require_GET
@staff_page(VIEW_PERMISSION)
def mass_reset_export(request: HttpRequest) -> HttpResponse:
    """The list as CSV, with the list's filters."""
    filters = _list_filters(request)
    header, *rows = mass_reset_csv_rows(mass_resets_list(state=filters["state"], search=filters["q"]))
    # A short list (one row per job), so the file is built whole.
    return csv_response(filename="mass-resets.csv", header=header, rows=rows, bom=False)


def _duration(seconds: int) -> str:
    if seconds < 60:
        return ngettext("about %(count)s second", "about %(count)s seconds", seconds) % {"count": seconds}
    if seconds < 3600:
        minutes = round(seconds / 60)
        return ngettext("about %(count)s minute", "about %(count)s minutes", minutes) % {"count": minutes}
    hours = round(seconds / 3600, 1)
    return gettext("about %(count)s hours") % {"count": hours}


def _progress_texts(progress: Progress) -> dict[str, str]:
    """What the page says about the figures, in the viewer's language (the script only copies it)."""
    if progress.state in (MassReset.State.AWAITING_APPROVAL, MassReset.State.REJECTED):
        counts = ngettext(
            "%(total)s account matches the request",
            "%(total)s accounts match the request",
            progress.accounts_estimated,
        ) % {"total": f"{progress.accounts_estimated:,}"}
    else:
        counts = gettext("%(done)s of %(total)s accounts reset") % {
            "done": f"{progress.accounts_reset:,}",
            "total": f"{progress.accounts_estimated:,}",
        }
    rate = (
        gettext("%(rate)s accounts a second") % {"rate": f"{progress.rate_per_second:,.0f}"}
        if progress.rate_per_second
        else gettext("no rate yet")
    )
    if progress.state == MassReset.State.DONE:
        eta = gettext("finished")
    elif progress.state == MassReset.State.PAUSED:
        eta = gettext("paused: resume to continue")
    elif progress.state == MassReset.State.AWAITING_APPROVAL:
        eta = gettext("starts when a second supervisor approves")
    elif progress.eta_seconds is not None:
        eta = gettext("%(duration)s left") % {"duration": _duration(progress.eta_seconds)}
    else:
        eta = "—"
    return {"counts_text": counts, "rate_text": rate, "eta_text": eta}


@never_cache
@require_GET
@staff_page(VIEW_PERMISSION)
def mass_reset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(MassReset.objects.select_related("created_by", "approval", "approval__maker", "approval__checker"), pk=pk)
    user = request.user
    progress = mass_reset_progress(job)
    may_run = user.has_perm(RUN_PERMISSION)
    approval = job.approval
    context: dict[str, Any] = {
        "job": job,
        "who": filters_describe(job.filters),
        "progress": progress,
        "texts": _progress_texts(progress),
        "history": mass_reset_history(job),
        "approval": approval,
        "may_see_approval": user.has_perm("backoffice.view_approval"),
        "may_decide": approval is not None
        and approval.state == approval.State.PENDING
        and user.has_perm(CHECK_PERMISSION)
        and approval.maker_id != user.pk,
        "can_pause": may_run and job.state in (MassReset.State.QUEUED, MassReset.State.RUNNING),
        "can_resume": may_run and job.state == MassReset.State.PAUSED,
        "can_cancel": may_run
        and job.state in (MassReset.State.AWAITING_APPROVAL, MassReset.State.QUEUED, MassReset.State.RUNNING, MassReset.State.PAUSED),
        "active": job.state in (MassReset.State.QUEUED, MassReset.State.RUNNING),
    }
    return staff_render(
        request, "admin/backoffice/mass_reset/detail.html", context, title=gettext("Mass password reset #%(id)s") % {"id": job.pk}
    )


@never_cache
@require_GET
@staff_page(VIEW_PERMISSION)
def mass_reset_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    job = MassReset.objects.filter(pk=pk).first()
    if job is None:
        raise Http404(gettext("There is no such mass reset."))
    progress = mass_reset_progress(job)
    return JsonResponse({**progress.as_json(), **_progress_texts(progress)})


@require_POST
@staff_page(VIEW_PERMISSION, RUN_PERMISSION)
def mass_reset_control_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(MassReset, pk=pk)
    action = request.POST.get("action", "")
    note = request.POST.get("note", "")[:1000]
    try:
        mass_reset_control(mass_reset=job, action=action, acting_user=acting_staff(request), reason=note, ip=client_ip(request))
    except MassResetRefused as refused:
        messages.error(request, refused.message)
    else:
        done = {"pause": gettext("Paused."), "resume": gettext("Resumed."), "cancel": gettext("Cancelled.")}
        messages.success(request, done[action])
    return HttpResponseRedirect(reverse("admin:incident_mass_reset_detail", args=[job.pk]))


urlpatterns: list[URLPattern] = [
    path("mass-reset/", mass_reset_list, name="incident_mass_reset_list"),
    path("mass-reset/export.csv", mass_reset_export, name="incident_mass_reset_export"),
    path("mass-reset/<int:pk>/", mass_reset_detail, name="incident_mass_reset_detail"),
    path("mass-reset/<int:pk>/progress.json", mass_reset_progress_json, name="incident_mass_reset_progress"),
    path("mass-reset/<int:pk>/control/", mass_reset_control_view, name="incident_mass_reset_control"),
]
