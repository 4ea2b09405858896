"""The refund desk's claim pages (URL namespace ``refunds_staff``): the review queue
with filters, search, paging and CSV; one claim with its whole history, details,
payouts and the actions allowed now; the reviewer's approve / reject; and the
late-claim form support fills in for a customer after the deadline.

Views parse and render; the decisions go through ``services.review_desk`` (a
second click or a stale page changes nothing and says who decided), late claims
through ``services.late_claims`` (a second person approves under Approvals).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backoffice.models import Approval
from backoffice.services.exports import export_record
from backoffice.views.base import acting_staff, staff_page, staff_render
from wallet.csv_export import csv_streaming_response
from wallet.models import LedgerAccount, User, normalize_email
from wallet.request_meta import client_ip

from ..models import BankDetails, RefundClaim
from ..selectors.claims import (
    LATE_CHOICES,
    PAGE_SIZE,
    ClaimFilters,
    account_number_visible,
    claim_detail,
    claim_rows,
    claims_csv_rows,
    claims_filtered,
    claims_in_review_count,
    reason_choices,
)
from ..services.banks import bank_master
from ..services.claims import REVIEW_PERMISSION
from ..services.errors import RefundRefused
from ..services.late_claims import LATE_CLAIM_PERMISSION, late_claim_file
from ..services.payee import CleanBankDetails, CleanPostalDetails, PayeeInvalid, bank_details_clean, postal_details_clean
from ..services.programme import programme_current
from ..services.review_desk import DECIDABLE_STATES, DECISIONS, claim_review_decide

VIEW_PERMISSION = "refunds.view_refundclaim"
DATE = forms.DateInput(attrs={"type": "date"})


class ClaimFilterForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), required=False, choices=[("", _("Any reason")), *reason_choices()])
    route = forms.ChoiceField(label=_("Route"), required=False, choices=[("", _("Any route")), *RefundClaim.Route.choices])
    method = forms.ChoiceField(label=_("Method"), required=False, choices=[("", _("Any method")), *RefundClaim.Method.choices])
    late = forms.ChoiceField(label=_("Late"), required=False, choices=[("", _("Late or in time")), *LATE_CHOICES.items()])
    date_from = forms.DateField(label=_("Claimed from"), required=False, widget=DATE)
    date_to = forms.DateField(label=_("Claimed until"), required=False, widget=DATE)
    q = forms.CharField(
        label=_("Claim number or email"), required=False, max_length=254, widget=forms.SearchInput(attrs={"autocomplete": "off"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date must not be before the start date."))
        return data

    def filters(self) -> ClaimFilters:
        if not self.is_bound or not self.is_valid():
            return ClaimFilters()
        return ClaimFilters(**{name: self.cleaned_data[name] for name in self.base_fields})


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(d, d) for d in DECISIONS])
    state = forms.ChoiceField(choices=RefundClaim.State.choices)
    note = forms.CharField(required=False, max_length=2000)
    back = forms.CharField(required=False, max_length=2000)


def _queue_url(query: str = "") -> str:
    """The queue again with the reviewer's filters; only known filter names survive."""
    allowed = [*ClaimFilterForm.base_fields, "page"]
    kept = QueryDict(mutable=True)
    for name, values in QueryDict(query).lists():
        if name in allowed:
            kept.setlist(name, values[:1])
    encoded = kept.urlencode()
    return reverse("refunds_staff:claims_review") + (f"?{encoded}" if encoded else "")


def _viewer_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "may_review": user.has_perm(REVIEW_PERMISSION),
        "may_view_customer": user.has_perm("wallet.view_user"),
        "may_view_case": user.has_perm("backoffice.view_case"),
        "may_view_bank": user.has_perm("refunds.view_bankdetails"),
        "may_view_postal": user.has_perm("refunds.view_postaldetails"),
        "full_numbers": account_number_visible(user),
        "may_file_late": user.has_perm(LATE_CLAIM_PERMISSION),
    }


@require_GET
@staff_page(VIEW_PERMISSION)
def claims_review(request: HttpRequest) -> HttpResponse:
    form = ClaimFilterForm(request.GET or None)
    page = Paginator(claims_filtered(form.filters()), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": claim_rows(list(page.object_list)),
        "in_review": claims_in_review_count(),
        "filter_query": query.urlencode(),
        "back": request.GET.urlencode(),
        **_viewer_context(request),
    }
    return staff_render(
        request,
        "admin/refunds/desk/claims/queue.html",
        context,
        title=gettext("Refund claims to review"),
        status=400 if form.errors else 200,
    )


@require_GET
@staff_page(VIEW_PERMISSION)  # type: ignore[arg-type]  # a streamed CSV is an HttpResponseBase
def claims_export(request: HttpRequest) -> HttpResponseBase:
    form = ClaimFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        messages.error(request, gettext("Those filters are not valid; nothing was exported."))
        return HttpResponseRedirect(_queue_url(request.GET.urlencode()))
    filters = form.filters()
    export_record(
        acting_user=acting_staff(request),
        what="refund.export_claims",
        filters=request.GET.urlencode(),
        row_count=claims_filtered(filters).count(),
        ip=client_ip(request),
        permission=VIEW_PERMISSION,
    )
    rows = claims_csv_rows(filters)  # the header first, then the claims
    return csv_streaming_response(filename="refund-claims-review.csv", header=next(rows), rows=rows, bom=False)


@require_GET
@staff_page(VIEW_PERMISSION)
def claim_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    detail = claim_detail(pk)
    if detail is None:
        raise Http404(gettext("There is no such claim."))
    claim = detail.claim
    viewer = _viewer_context(request)
    late_approval = detail.row.late_approval
    context = {
        "detail": detail,
        "row": detail.row,
        "claim": claim,
        "may_approve": viewer["may_review"] and claim.state in DECIDABLE_STATES["approve"] and "late" not in claim.hold_reasons,
        "may_reject": viewer["may_review"] and claim.state in DECIDABLE_STATES["reject"],
        "waits_for_late_approval": "late" in claim.hold_reasons and claim.state == RefundClaim.State.REVIEW,
        "late_approval_url": reverse("admin:backoffice_approval_change", args=[late_approval.pk]) if late_approval else "",
        "may_view_approval": request.user.has_perm("backoffice.view_approval"),
        "back": request.GET.get("back", ""),
        **viewer,
    }
    return staff_render(
        request, "admin/refunds/desk/claims/detail.html", context, title=gettext("Refund claim %(number)s") % {"number": claim.number}
    )


@require_POST
@staff_page(VIEW_PERMISSION, REVIEW_PERMISSION)
def claim_decide(request: HttpRequest, pk: int) -> HttpResponse:
    form = DecisionForm(request.POST)
    detail_url = reverse("refunds_staff:claim_detail", args=[pk])
    if not form.is_valid():
        messages.error(request, gettext("That decision was not understood. Nothing was changed."))
        return HttpResponseRedirect(detail_url)
    data = form.cleaned_data
    back = _queue_url(data["back"]) if data["back"] else detail_url
    try:
        claim = claim_review_decide(
            claim_id=pk,
            decision=data["decision"],
            seen_state=data["state"],
            note=data["note"],
            acting_user=acting_staff(request),
            ip=client_ip(request),
        )
    except RefundRefused as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(back)
    if claim.state == RefundClaim.State.APPROVED:
        done = gettext("Claim %(number)s approved: it goes into the next payout batch.")
    else:
        done = gettext("Claim %(number)s rejected: ¥%(yen)s went back to the wallet and the customer was told why.")
    messages.success(request, done % {"number": claim.number, "yen": f"{claim.amount_yen:,}"})
    return HttpResponseRedirect(back)


# -- late claims -----------------------------------------------------------------------------


class LateClaimForm(forms.Form):
    email = forms.EmailField(label=_("Customer's email address"), max_length=254)
    method = forms.ChoiceField(label=_("How to pay"), choices=RefundClaim.Method.choices, widget=forms.RadioSelect)
    bank = forms.CharField(label=_("Bank: code or name"), required=False, max_length=80)
    branch = forms.CharField(label=_("Branch: code or name"), required=False, max_length=80)
    account_type = forms.ChoiceField(label=_("Account type"), required=False, choices=[("", "—"), *BankDetails.AccountType.choices])
    account_number = forms.CharField(label=_("Account number"), required=False, max_length=12)
    holder_name = forms.CharField(label=_("Account holder (kana)"), required=False, max_length=60)
    yucho_kigou = forms.CharField(label=_("ゆうちょ 記号 (instead of branch and number)"), required=False, max_length=8)
    yucho_bangou = forms.CharField(label=_("ゆうちょ 番号"), required=False, max_length=10)
    yucho_savings = forms.BooleanField(label=_("ゆうちょ 貯蓄貯金 (savings)"), required=False)
    postal_name = forms.CharField(label=_("Name on the certificate"), required=False, max_length=150)
    postal_name_kana = forms.CharField(label=_("Name in kana"), required=False, max_length=150)
    postal_code = forms.CharField(label=_("Postal code"), required=False, max_length=10)
    address = forms.CharField(label=_("Address"), required=False, max_length=300)
    confirmed_amount_yen = forms.IntegerField(label=_("Balance confirmed with the customer (yen)"), min_value=1)
    reason = forms.CharField(
        label=_("Why this late claim should be accepted"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The approver reads this. Say how the customer contacted us and why they could not claim in time."),
    )

    BANK_INPUTS = ("bank", "branch", "account_type", "account_number", "holder_name", "yucho_kigou", "yucho_bangou", "yucho_savings")
    BANK_FIELDS = {"bank_code": "bank", "branch_code": "branch", "yucho_kigou": "yucho_kigou", "yucho_bangou": "yucho_bangou"}
    POSTAL_FIELDS = {"name": "postal_name", "name_kana": "postal_name_kana", "postal_code": "postal_code", "address": "address"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer: User | None = None
        self.bank_details: CleanBankDetails | None = None
        self.postal_details: CleanPostalDetails | None = None

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        self.customer = User.objects.filter(email=email, is_staff=False).first()
        if self.customer is None:
            raise forms.ValidationError(_("No customer has this email address."))
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        method = data.get("method")
        try:
            if method == RefundClaim.Method.BANK:
                self.bank_details = self._bank(data)
            elif method == RefundClaim.Method.POSTAL:
                self.postal_details = postal_details_clean(
                    name=data.get("postal_name", ""),
                    name_kana=data.get("postal_name_kana", ""),
                    postal_code=data.get("postal_code", ""),
                    address=data.get("address", ""),
                )
        except PayeeInvalid as exc:
            names = self.BANK_FIELDS if method == RefundClaim.Method.BANK else self.POSTAL_FIELDS
            for field, message in exc.errors.items():
                target = names.get(field, field)
                self.add_error(target if target in self.fields else None, message)
        return data

    def _bank(self, data: dict[str, Any]) -> CleanBankDetails:
        """Bank and branch may be typed as a code or a name; a name must match one entry of the master."""
        master = bank_master()
        bank_code = self._code(data.get("bank", ""), 4, lambda q: [(b.code, b.name) for b in master.search_banks(q, limit=6)], "bank")
        branch_code = data.get("branch", "")
        if bank_code and branch_code and not data.get("yucho_kigou"):
            branch_code = self._code(
                branch_code, 3, lambda q: [(b.code, b.name) for b in master.search_branches(bank_code, q, limit=6)], "branch"
            )
        return bank_details_clean(
            bank_code=bank_code,
            branch_code=branch_code,
            account_type=data.get("account_type"),
            account_number=data.get("account_number", ""),
            holder_name=data.get("holder_name", ""),
            yucho_kigou=data.get("yucho_kigou", ""),
            yucho_bangou=data.get("yucho_bangou", ""),
            yucho_savings=bool(data.get("yucho_savings")),
        )

    @staticmethod
    def _code(raw: str, digits: int, search: Callable[[str], list[tuple[str, str]]], field: str) -> str:
        """A code as typed, or the code of the one entry whose name matches (exactly, if several contain it)."""
        raw = (raw or "").strip()
        if not raw or (raw.isdigit() and len(raw) == digits):
            return raw
        name = raw.removesuffix("銀行").removesuffix("支店") or raw
        candidates = search(name)
        exact = [code for code, entry in candidates if entry == name]
        if len(candidates) == 1 or len(exact) == 1:
            return exact[0] if exact else candidates[0][0]
        if not candidates:
            raise PayeeInvalid({field: gettext("Nothing in the bank master matches “%(name)s”.") % {"name": raw}})
        shown = ", ".join(f"{entry} ({code})" for code, entry in candidates[:5])
        raise PayeeInvalid({field: gettext("Several match: %(list)s. Type the code.") % {"list": shown}})


def _customer_summary(email: str) -> dict[str, Any] | None:
    customer = User.objects.filter(email=normalize_email(email), is_staff=False).first()
    if customer is None:
        return None
    balance = LedgerAccount.objects.filter(owner=customer).values_list("balance_yen", flat=True).first()
    claims = list(RefundClaim.objects.filter(customer=customer).order_by("-created_at"))
    return {"customer": customer, "balance_yen": balance or 0, "claims": claims}


@require_http_methods(["GET", "POST"])
@staff_page(VIEW_PERMISSION, LATE_CLAIM_PERMISSION)
def late_claim_page(request: HttpRequest) -> HttpResponse:
    programme = programme_current()
    lookup = request.GET.get("email", "").strip()
    summary = _customer_summary(lookup) if lookup else None
    initial: dict[str, Any] = {"method": RefundClaim.Method.BANK}
    if summary is not None:
        initial.update(email=summary["customer"].email, confirmed_amount_yen=summary["balance_yen"] or None)
    form = LateClaimForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        assert form.customer is not None
        try:
            claim, approval = late_claim_file(
                customer=form.customer,
                method=form.cleaned_data["method"],
                confirmed_amount_yen=form.cleaned_data["confirmed_amount_yen"],
                reason=form.cleaned_data["reason"],
                acting_user=acting_staff(request),
                bank=form.bank_details,
                postal=form.postal_details,
                ip=client_ip(request),
            )
        except RefundRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                format_html(
                    '{} <a href="{}">{}</a>',
                    gettext("Late claim %(number)s filed for ¥%(yen)s. A second person must approve it:")
                    % {"number": claim.number, "yen": f"{claim.amount_yen:,}"},
                    reverse("admin:backoffice_approval_change", args=[approval.pk]),
                    gettext("approval request #%(id)s") % {"id": approval.pk},
                ),
            )
            return HttpResponseRedirect(reverse("refunds_staff:claim_detail", args=[claim.pk]))
    context = {
        "form": form,
        "bank_fields": [form[name] for name in LateClaimForm.BANK_INPUTS],
        "postal_fields": [form[name] for name in LateClaimForm.POSTAL_FIELDS.values()],
        "programme": programme,
        "deadline_passed": programme is not None and programme.claims_have_closed(),
        "lookup": lookup,
        "summary": summary,
        "pending_late": Approval.objects.filter(kind=Approval.Kind.LATE_CLAIM, state=Approval.State.PENDING).count(),
    }
    return staff_render(
        request, "admin/refunds/desk/claims/late.html", context, title=gettext("File a late claim"), status=400 if form.errors else 200
    )


urlpatterns: list[URLPattern] = [
    path("claims/", claims_review, name="claims_review"),
    path("claims/export.csv", claims_export, name="claims_export"),
    path("claims/late/", late_claim_page, name="late_claim"),
    path("claims/<int:pk>/", claim_detail_page, name="claim_detail"),
    path("claims/<int:pk>/decide/", claim_decide, name="claim_decide"),
]
