"""Claims, their history and payee details in the admin: read-only for everybody.

A claim is worked on the refund desk (review, late claims), whose page each
claim links to; the admin shows the records as they are. Account numbers are
masked (last three digits) except for those who may download the payout file,
which holds them anyway (``account_number_visible``, L02); the keyed account
fingerprint is never shown. Postal addresses need ``view_postaldetails``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.admin.base import ReadOnlyAdmin
from backoffice.admin_site import staff_admin_site

from ..models import BankDetails, ClaimEvent, PostalDetails, RefundClaim
from ..selectors.claims import account_number_visible
from ..services.checks import reason_labels
from ..services.claims import claim_current_bank_details, claim_current_postal_details
from .common import desk_url, yen


def _claim_link(claim: RefundClaim) -> SafeString:
    return format_html('<a href="{}">{}</a>', reverse("admin:refunds_refundclaim_change", args=[claim.pk]), claim.number)


def bank_details_html(details: BankDetails | None, *, full_number: bool) -> SafeString:
    """One bank account as staff see it: the number masked unless ``full_number``."""
    if details is None:
        return format_html("{}", "—")
    number = details.account_number if full_number else details.masked_number
    yucho = ""
    if details.yucho_kigou:
        bangou = details.yucho_bangou if full_number else "****" + details.yucho_bangou[-3:]
        yucho = gettext("ゆうちょ 記号・番号 given: %(kigou)s-%(bangou)s") % {"kigou": details.yucho_kigou, "bangou": bangou}
    return format_html(
        "{} ({}) / {} ({})<br>{} <strong>{}</strong><br>{}: <strong>{}</strong>{}",
        details.bank_name,
        details.bank_code,
        details.branch_name,
        details.branch_code,
        details.get_account_type_display(),
        number,
        gettext("Holder"),
        details.holder_name,
        format_html("<br>{}", yucho) if yucho else "",
    )


class ClaimEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ClaimEvent
    fields = readonly_fields = ("created_at", "kind", "from_state", "to_state", "actor", "note")
    extra = 0
    can_delete = False
    verbose_name_plural = _("history")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The history belongs to the claim: whoever sees the claim sees how it got here.
        return bool(request.user.has_perm("refunds.view_refundclaim"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClaimEvent]:
        return super().get_queryset(request).select_related("actor").order_by("created_at", "id")


@admin.register(RefundClaim, site=staff_admin_site)
class RefundClaimAdmin(ReadOnlyAdmin):
    list_display = ["number", "created_at", "customer_email", "state", "method", "route", "late", "amount"]
    list_filter = ["state", "method", "route", "late"]
    search_fields = ["=number", "customer__email"]
    search_help_text = _("Search by claim number (exact) or customer email.")
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    inlines = [ClaimEventInline]
    readonly_fields = ["desk_link", "customer_email", "amount", "reasons", "postal", "supporting_data"]
    fieldsets = [
        (None, {"fields": ["desk_link", "number", "state", "customer", "customer_email", "amount", "reasons"]}),
        (_("How it was filed"), {"fields": ["programme", "route", "method", "late", "filed_by", "created_at", "updated_at", "paid_at"]}),
        (_("Payee"), {"fields": ["bank", "postal"]}),
        (_("Supporting data, not proof"), {"fields": ["supporting_data"]}),
        (_("Ledger"), {"fields": ["transfer"]}),
    ]

    @admin.display(description=_("customer email"), ordering="customer__email")
    def customer_email(self, obj: RefundClaim) -> str:
        return obj.customer.email

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: RefundClaim) -> str:
        return yen(obj.amount_yen)

    @admin.display(description=_("review reasons"))
    def reasons(self, obj: RefundClaim) -> SafeString:
        if not obj.hold_reasons:
            return format_html("{}", "—")
        return format_html_join(mark_safe("<br>"), "{}", ((label,) for label in reason_labels(obj.hold_reasons)))

    @admin.display(description=_("refund desk"))
    def desk_link(self, obj: RefundClaim) -> SafeString:
        url = desk_url("claim_detail", obj.pk)
        if not url:
            return format_html("{}", "—")
        return format_html('<a href="{}">{}</a>', url, gettext("Open the claim on the refund desk (history, payouts, actions)"))

    # Which payee fields a person sees depends on their permissions. The choice is made per
    # request by naming different display methods (a ModelAdmin is shared by every thread,
    # so it must not remember who is looking).
    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        user = request.user
        if not user.has_perm("refunds.view_bankdetails"):
            bank = "bank_hidden"
        else:
            bank = "bank_full" if account_number_visible(user) else "bank_masked"
        postal = "postal" if user.has_perm("refunds.view_postaldetails") else "postal_hidden"
        sets = []
        for name, options in self.fieldsets:
            fields = [{"bank": bank, "postal": postal}.get(str(f), f) for f in options["fields"]]
            sets.append((name, {**options, "fields": fields}))
        return sets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.readonly_fields, "bank_hidden", "bank_full", "bank_masked", "postal_hidden"]

    def _bank(self, obj: RefundClaim, *, full_number: bool) -> SafeString:
        if obj.method != RefundClaim.Method.BANK:
            return format_html("{}", "—")
        return bank_details_html(claim_current_bank_details(obj), full_number=full_number)

    @admin.display(description=_("current bank details"))
    def bank_full(self, obj: RefundClaim) -> SafeString:
        return self._bank(obj, full_number=True)

    @admin.display(description=_("current bank details"))
    def bank_masked(self, obj: RefundClaim) -> SafeString:
        return self._bank(obj, full_number=False)

    @admin.display(description=_("current bank details"))
    def bank_hidden(self, obj: RefundClaim) -> str:
        return gettext("(you may not see bank details)")

    @admin.display(description=_("current postal details"))
    def postal(self, obj: RefundClaim) -> SafeString:
        details = claim_current_postal_details(obj) if obj.method == RefundClaim.Method.POSTAL else None
        if details is None:
            return format_html("{}", "—")
        return format_html("{}<br>〒{} {}", details.name, details.postal_code, details.address)

    @admin.display(description=_("current postal details"))
    def postal_hidden(self, obj: RefundClaim) -> str:
        return gettext("(you may not see postal addresses)")

    @admin.display(description=_("name and birth date given"))
    def supporting_data(self, obj: RefundClaim) -> str:
        if not obj.stated_name and not obj.stated_birth_date:
            return "—"
        birth = obj.stated_birth_date.isoformat() if obj.stated_birth_date else "—"
        return gettext("%(name)s, born %(birth)s (typed by the claimant; never proof of identity)") % {
            "name": obj.stated_name or "—",
            "birth": birth,
        }


@admin.register(ClaimEvent, site=staff_admin_site)
class ClaimEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "claim_link", "kind", "from_state", "to_state", "actor", "note"]
    list_filter = ["kind", "created_at"]
    search_fields = ["=claim__number", "claim__customer__email"]
    search_help_text = _("Search by claim number (exact) or customer email.")
    list_select_related = ["claim", "actor"]
    ordering = ["-created_at", "-id"]

    @admin.display(description=_("claim"), ordering="claim__number")
    def claim_link(self, obj: ClaimEvent) -> SafeString:
        return _claim_link(obj.claim)


@admin.register(BankDetails, site=staff_admin_site)
class BankDetailsAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "claim_link", "bank_code", "branch_code", "account_type", "number_masked", "holder_name", "superseded_at"]
    list_filter = ["account_type", ("superseded_at", admin.EmptyFieldListFilter)]
    search_fields = ["=claim__number", "claim__customer__email", "holder_name"]
    search_help_text = _("Search by claim number (exact), customer email or holder name.")
    list_select_related = ["claim"]
    ordering = ["-id"]
    fields = ["claim_link", "details", "bank_code", "branch_code", "account_type", "number", "holder_name", "created_at", "superseded_at"]

    # Full or masked number per request, by naming different display methods (see RefundClaimAdmin).
    def _full(self, request: HttpRequest) -> bool:
        return account_number_visible(request.user)

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = "number_full" if self._full(request) else "number_masked"
        return [shown if name == "number_masked" else name for name in self.list_display]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        suffix = "full" if self._full(request) else "masked"
        return [{"number": f"number_{suffix}", "details": f"details_{suffix}"}.get(str(name), name) for name in self.fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["claim_link", "details_full", "details_masked", "number_full", "number_masked"]

    @admin.display(description=_("claim"), ordering="claim__number")
    def claim_link(self, obj: BankDetails) -> SafeString:
        return _claim_link(obj.claim)

    @admin.display(description=_("account number"))
    def number_full(self, obj: BankDetails) -> str:
        return obj.account_number

    @admin.display(description=_("account number"))
    def number_masked(self, obj: BankDetails) -> str:
        return obj.masked_number

    @admin.display(description=_("account"))
    def details_full(self, obj: BankDetails) -> SafeString:
        return bank_details_html(obj, full_number=True)

    @admin.display(description=_("account"))
    def details_masked(self, obj: BankDetails) -> SafeString:
        return bank_details_html(obj, full_number=False)


@admin.register(PostalDetails, site=staff_admin_site)
class PostalDetailsAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "claim_link", "name", "postal_code", "address", "superseded_at"]
    list_filter = [("superseded_at", admin.EmptyFieldListFilter)]
    search_fields = ["=claim__number", "claim__customer__email", "name", "postal_code"]
    search_help_text = _("Search by claim number (exact), customer email, name or postal code.")
    list_select_related = ["claim"]
    ordering = ["-id"]

    @admin.display(description=_("claim"), ordering="claim__number")
    def claim_link(self, obj: PostalDetails) -> SafeString:
        return _claim_link(obj.claim)
