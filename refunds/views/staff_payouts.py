"""The refund desk's payout pages (URL namespace ``refunds_staff``): the batch list with
filters and CSV, "build a batch now", one batch with its payouts, file download
(audited), the release request, the Japan Post CSV, and the bank results import.

Views parse and render; every write is one service call (``services.payouts``) that
writes its StaffAction row. Each POST redirects (post/redirect/get), and a second
click finds nothing left to do: the build finds no approved claim, the release is
already requested, the same results file is refused as already imported.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backoffice.services.exports import export_record
from backoffice.views.base import acting_staff, staff_page, staff_render
from wallet.csv_export import csv_streaming_response
from wallet.request_meta import client_ip

from ..models import PayoutBatch
from ..selectors.payouts import (
    BatchFilters,
    batch_effective_state,
    batch_payouts,
    payout_batch_get,
    payout_batch_with_file,
    payout_batches,
    payout_batches_csv_rows,
    payout_result_import_get,
    payout_result_import_returns,
    payout_result_imports,
    payout_state_counts,
)
from ..services.errors import RefundRefused
from ..services.payouts import (
    BUILD_PERMISSION,
    DOWNLOAD_PERMISSION,
    IMPORT_PERMISSION,
    RELEASE_PERMISSION,
    RESULTS_HEADER,
    VIEW_PERMISSION,
    PayoutResultsAlreadyImported,
    PayoutResultsInvalid,
    default_transfer_date,
    payout_batch_build,
    payout_batch_download,
    payout_batch_release_request,
    payout_results_import,
)

PAGE_SIZE = 50
BATCHES_PAGE_SIZE = 25
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
BOTH = "both"


class BatchFilterForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), required=False, choices=[("", _("Any method")), *PayoutBatch.Method.choices])
    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("Any state")), *PayoutBatch.State.choices])

    def filters(self) -> BatchFilters:
        if not self.is_bound or not self.is_valid():
            return BatchFilters()
        return BatchFilters(method=self.cleaned_data["method"], state=self.cleaned_data["state"])


class BuildForm(forms.Form):
    method = forms.ChoiceField(
        label=_("Which claims"),
        choices=[(BOTH, _("Bank transfers and Japan Post")), *PayoutBatch.Method.choices],
        initial=BOTH,
    )
    transfer_date = forms.DateField(
        label=_("Transfer date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "aria-describedby": "id_transfer_date_helptext"}),
        help_text=_("Empty: the next bank business day."),
    )


class ReleaseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "aria-describedby": "id_reason_helptext"}),
        help_text=_("Required. The second finance user reads it before approving; it is kept in the audit log."),
    )


class PayoutSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Claim number or payout id"),
        required=False,
        max_length=20,
        widget=forms.SearchInput(attrs={"autocomplete": "off"}),
    )


class ResultsUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Results file (CSV)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv", "aria-describedby": "id_file_helptext"}),
        help_text=_("UTF-8 CSV with the header payout_id,status,reason; status is paid or returned, a returned row needs the reason."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(gettext("The file is larger than %(mb)d MB; split it.") % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)})
        return upload


def breakable(text: str, size: int = 16) -> list[str]:
    """Pieces of a long unbroken string (a SHA-256, a file name) that the page joins with <wbr>, so a phone can wrap it."""
    return [text[start : start + size] for start in range(0, len(text), size)]


def _batch_or_404(pk: int) -> PayoutBatch:
    batch = payout_batch_get(pk)
    if batch is None:
        raise Http404(gettext("There is no such payout batch."))
    return batch


# -- the list -----------------------------------------------------------------------------------


@require_GET
@staff_page(VIEW_PERMISSION)
def batch_list(request: HttpRequest) -> HttpResponse:
    form = BatchFilterForm(request.GET or None)
    page = Paginator(payout_batches(form.filters()), BATCHES_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filter_form": form,
        "page": page,
        "rows": [(batch, state, PayoutBatch.State(state).label) for batch in page for state in [batch_effective_state(batch)]],
        "filter_query": query.urlencode(),
        "build_form": BuildForm(initial={"method": BOTH}),
        "next_transfer_date": default_transfer_date(),
        "may_build": request.user.has_perm(BUILD_PERMISSION),
        "may_import": request.user.has_perm(IMPORT_PERMISSION),
    }
    return staff_render(
        request, "admin/refunds/desk/payouts/list.html", context, title=gettext("Payout batches"), status=400 if form.errors else 200
    )


@require_GET
@staff_page(VIEW_PERMISSION)
def batch_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = BatchFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        messages.error(request, gettext("Those filters are not valid; nothing was exported."))
        return HttpResponseRedirect(reverse("refunds_staff:payout_batches"))
    batches = payout_batches(form.filters())
    export_record(
        acting_user=acting_staff(request),
        what="payout_batch.export",
        filters=request.GET.urlencode(),
        row_count=batches.count(),
        ip=client_ip(request),
        permission=VIEW_PERMISSION,
    )
    rows = payout_batches_csv_rows(batches)  # the header first, then the batches
    return csv_streaming_response(filename="payout-batches.csv", header=next(rows), rows=rows, bom=False)


@require_POST
@staff_page(BUILD_PERMISSION)
def batch_build(request: HttpRequest) -> HttpResponse:
    form = BuildForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        return HttpResponseRedirect(reverse("refunds_staff:payout_batches"))
    choice = form.cleaned_data["method"]
    methods = [PayoutBatch.Method.BANK, PayoutBatch.Method.POSTAL] if choice == BOTH else [choice]
    built: list[PayoutBatch] = []
    for method in methods:
        try:
            batch = payout_batch_build(
                method=method, transfer_date=form.cleaned_data["transfer_date"], acting_user=acting_staff(request), ip=client_ip(request)
            )
        except RefundRefused as exc:
            messages.error(request, exc.message)
            continue
        if batch is not None:
            built.append(batch)
            messages.success(
                request,
                gettext("Batch #%(batch)s built: %(count)s payouts, ¥%(total)s (%(method)s). It waits for release.")
                % {
                    "batch": batch.pk,
                    "count": f"{batch.payout_count:,}",
                    "total": f"{batch.total_yen:,}",
                    "method": batch.get_method_display(),
                },
            )
        else:
            messages.info(
                request,
                gettext("No approved %(method)s claim is waiting: nothing to build.") % {"method": PayoutBatch.Method(method).label},
            )
    if len(built) == 1:
        return HttpResponseRedirect(reverse("refunds_staff:payout_batch", args=[built[0].pk]))
    return HttpResponseRedirect(reverse("refunds_staff:payout_batches"))


# -- one batch ------------------------------------------------------------------------------------


def _detail(request: HttpRequest, batch: PayoutBatch, release_form: ReleaseForm | None = None, *, status: int = 200) -> HttpResponse:
    search = PayoutSearchForm(request.GET or None)
    q = search.cleaned_data["q"] if search.is_valid() else ""
    page = Paginator(batch_payouts(batch, q), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    state = batch_effective_state(batch)
    may_release = request.user.has_perm(RELEASE_PERMISSION)
    approval = batch.release_approval
    context = {
        "batch": batch,
        "sha_parts": breakable(batch.file_sha256),
        "file_name_parts": breakable(batch.file_name, 12),
        "state": state,
        "state_label": PayoutBatch.State(state).label,
        "stale_approval": approval is not None and state == PayoutBatch.State.AWAITING_RELEASE,
        "approval": approval,
        "approval_url": reverse("admin:backoffice_approval_change", args=[approval.pk]) if approval is not None else "",
        "may_view_approval": request.user.has_perm("backoffice.view_approval"),
        "may_checker_approve": may_release and approval is not None and approval.maker_id != request.user.pk,
        "counts": payout_state_counts(batch),
        "search": search,
        "page": page,
        "filter_query": query.urlencode(),
        "may_download": request.user.has_perm(DOWNLOAD_PERMISSION),
        "may_release": may_release and state == PayoutBatch.State.AWAITING_RELEASE,
        "may_import": request.user.has_perm(IMPORT_PERMISSION) and batch.state == PayoutBatch.State.DELIVERED,
        "release_form": release_form or ReleaseForm(),
        "show_accounts": request.user.has_perm("refunds.view_bankdetails"),
    }
    title = gettext("Payout batch #%(batch)s") % {"batch": batch.pk}
    return staff_render(request, "admin/refunds/desk/payouts/detail.html", context, title=title, status=status)


@require_GET
@staff_page(VIEW_PERMISSION)
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _batch_or_404(pk))


@require_POST
@staff_page(RELEASE_PERMISSION)
def batch_release(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(pk)
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        return _detail(request, batch, form, status=400)
    try:
        approval = payout_batch_release_request(
            batch=batch, acting_user=acting_staff(request), reason=form.cleaned_data["reason"], ip=client_ip(request)
        )
    except RefundRefused as exc:
        (messages.info if exc.code == RefundRefused.Code.ALREADY_REQUESTED else messages.error)(request, exc.message)
    else:
        messages.success(
            request,
            gettext("Release requested (approval #%(approval)s). A second finance user approves it under Approvals; then the file is sent.")
            % {"approval": approval.pk},
        )
    return HttpResponseRedirect(reverse("refunds_staff:payout_batch", args=[pk]))


def _file_response(request: HttpRequest, pk: int, *, postal_only: bool) -> HttpResponse:
    batch = payout_batch_with_file(pk)
    if batch is None or (postal_only and batch.method != PayoutBatch.Method.POSTAL):
        raise Http404(gettext("There is no such Japan Post batch.") if postal_only else gettext("There is no such payout batch."))
    try:
        content = payout_batch_download(batch=batch, acting_user=acting_staff(request), ip=client_ip(request))
    except RefundRefused as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("refunds_staff:payout_batch", args=[pk]))
    postal = batch.method == PayoutBatch.Method.POSTAL
    # The bank file is cp932 fixed-length records: bytes to upload as they are, not text to open.
    response = HttpResponse(content, content_type="text/csv; charset=utf-8" if postal else "application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{batch.file_name}"'
    response["X-Content-SHA256"] = batch.file_sha256
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@staff_page(DOWNLOAD_PERMISSION)
def batch_download(request: HttpRequest, pk: int) -> HttpResponse:
    return _file_response(request, pk, postal_only=False)


@require_GET
@staff_page(DOWNLOAD_PERMISSION)
def batch_postal_csv(request: HttpRequest, pk: int) -> HttpResponse:
    return _file_response(request, pk, postal_only=True)


# -- results ----------------------------------------------------------------------------------------


def _results_page(request: HttpRequest, form: ResultsUploadForm, *, errors: list[str] | None = None, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "errors": errors or [],
        "imports": payout_result_imports(),
        "header": ",".join(RESULTS_HEADER),
        "delivered": payout_batches(BatchFilters(state=PayoutBatch.State.DELIVERED))[:10],
    }
    return staff_render(request, "admin/refunds/desk/payouts/results.html", context, title=gettext("Import payout results"), status=status)


@require_http_methods(["GET", "POST"])
@staff_page(IMPORT_PERMISSION)
def results_import(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _results_page(request, ResultsUploadForm())
    form = ResultsUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _results_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    content = b"".join(upload.chunks())
    try:
        result = payout_results_import(
            content=content, file_name=upload.name or "", acting_user=acting_staff(request), ip=client_ip(request)
        )
    except PayoutResultsInvalid as exc:
        return _results_page(request, form, errors=[exc.message, *exc.errors], status=400)
    except PayoutResultsAlreadyImported as exc:
        messages.info(request, exc.message)
        if exc.previous is not None:
            return HttpResponseRedirect(reverse("refunds_staff:payout_results_import_detail", args=[exc.previous.pk]))
        return HttpResponseRedirect(reverse("refunds_staff:payout_results_import"))
    except RefundRefused as exc:
        return _results_page(request, form, errors=[exc.message], status=400)
    messages.success(
        request,
        ngettext("%(rows)d row imported.", "%(rows)d rows imported.", result.rows) % {"rows": result.rows},
    )
    return HttpResponseRedirect(reverse("refunds_staff:payout_results_import_detail", args=[result.pk]))


@require_GET
@staff_page(IMPORT_PERMISSION)
def results_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    result = payout_result_import_get(pk)
    if result is None:
        raise Http404(gettext("There is no such results import."))
    context = {
        "result": result,
        "sha_parts": breakable(result.file_sha256),
        "file_name_parts": breakable(result.file_name, 12),
        "returns": payout_result_import_returns(result)[:500],
    }
    title = gettext("Payout results import #%(id)s") % {"id": result.pk}
    return staff_render(request, "admin/refunds/desk/payouts/import_detail.html", context, title=title)


urlpatterns: list[URLPattern] = [
    path("payouts/", batch_list, name="payout_batches"),
    path("payouts/export.csv", batch_export, name="payout_batches_export"),
    path("payouts/build/", batch_build, name="payout_batches_build"),
    path("payouts/results/", results_import, name="payout_results_import"),
    path("payouts/results/<int:pk>/", results_import_detail, name="payout_results_import_detail"),
    path("payouts/<int:pk>/", batch_detail, name="payout_batch"),
    path("payouts/<int:pk>/release/", batch_release, name="payout_batch_release"),
    path("payouts/<int:pk>/download/", batch_download, name="payout_batch_download"),
    path("payouts/<int:pk>/japan-post.csv", batch_postal_csv, name="payout_batch_postal_csv"),
]
