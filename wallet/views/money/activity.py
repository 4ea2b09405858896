"""History with filters and CSV export, one receipt per transaction, and the
"I don't recognise this" report. A customer reaches only their own transfers:
another's reference is a 404, not a 403, so it does not even confirm it exists (B08)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from ...access import second_factor_required
from ...csv_export import csv_streaming_response
from ...forms.money import ActivityFilterForm, TransactionReportForm
from ...models import Entry, TransactionReport, Transfer, User
from ...selectors import activity_for, transfer_for_customer
from ...services.holds import transaction_report_create
from ...services.ledger import MoneyError
from ...switches import ChannelDisabled
from .display import ENTRY_RELATED, Receipt, activity_rows, receipt_for, transfer_details

PAGE_SIZE = 20


def _entries(user: User, form: ActivityFilterForm) -> QuerySet[Entry]:
    return activity_for(user, **form.filters()).select_related(*ENTRY_RELATED)


@never_cache
@second_factor_required
@require_GET
def activity_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ActivityFilterForm(request.GET or None)
    page = Paginator(_entries(user, form), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "rows": activity_rows(list(page.object_list)), "filtered": any(form.filters().values())}
    return render(request, "wallet/money/activity.html", context)


def _csv_rows(entries: QuerySet[Entry]) -> Iterator[list[object]]:
    for entry in entries.iterator(chunk_size=500):
        transfer: Transfer = entry.transfer
        # Written in Japan time; text made formula-safe; the amount a plain signed integer a spreadsheet can add up.
        yield [transfer.created_at, str(transfer.get_kind_display()), transfer_details(transfer), entry.amount_yen, str(transfer.public_id)]


# The guard passes any response through; its type says HttpResponse, and this one streams.
@never_cache  # type: ignore[type-var]
@second_factor_required
@require_GET
def activity_export(request: HttpRequest) -> StreamingHttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ActivityFilterForm(request.GET or None)
    # With a byte-order mark, so Excel opens the Japanese text as UTF-8.
    return csv_streaming_response(
        filename=f"anzenpay-activity-{timezone.localdate():%Y%m%d}.csv",
        header=[_("Date"), _("Type"), _("Details"), _("Amount (yen)"), _("Reference")],
        rows=_csv_rows(_entries(user, form)),
        bom=True,
    )


def _own_transfer(user: User, public_id: UUID) -> Transfer:
    try:
        return transfer_for_customer(user, public_id)
    except Transfer.DoesNotExist as exc:
        raise Http404 from exc


def _receipt(user: User, transfer: Transfer) -> Receipt:
    own_entries = Entry.objects.filter(account__owner=user)
    amount = sum(own_entries.filter(transfer=transfer).values_list("amount_yen", flat=True))
    related_ids = [i for i in (transfer.reverses_id,) if i is not None]
    visible = set(own_entries.filter(transfer_id__in=related_ids).values_list("transfer_id", flat=True))
    return receipt_for(transfer, amount_yen=amount, visible_ids=visible)


@never_cache
@second_factor_required
@require_GET
def receipt_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    transfer = _own_transfer(user, public_id)
    context = {"receipt": _receipt(user, transfer), "report": TransactionReport.objects.filter(user=user, transfer=transfer).first()}
    return render(request, "wallet/money/receipt.html", context)


@never_cache
@second_factor_required
@require_http_methods(["GET", "POST"])
def report_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    transfer = _own_transfer(user, public_id)
    if TransactionReport.objects.filter(user=user, transfer=transfer).exists():
        messages.info(request, _("You have already reported this transaction. We will contact you by email."))
        return redirect("wallet:receipt", public_id=transfer.public_id)
    form = TransactionReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        lock_wallet = bool(form.cleaned_data["lock_wallet"])
        try:
            transaction_report_create(user=user, transfer=transfer, note=form.cleaned_data["note"], lock_wallet=lock_wallet)
        except (MoneyError, ChannelDisabled) as exc:
            form.add_error(None, exc.message)
        else:
            if lock_wallet:
                messages.success(request, _("Thank you. We have your report, and your wallet is locked: no payment can be made from it."))
            else:
                messages.success(request, _("Thank you. We have your report and will contact you by email."))
            return redirect("wallet:receipt", public_id=transfer.public_id)
    context = {"form": form, "receipt": _receipt(user, transfer)}
    return render(request, "wallet/money/report.html", context, status=400 if request.method == "POST" else 200)
