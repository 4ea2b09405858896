"""Compensation and card chargebacks in the admin: read-only records.

Compensation is requested from a case or a hunt and paid through an approval
(``backoffice.services.compensation``), never added or edited here. Its list is
the incident page ``admin:incident_compensation_list`` (filters, search, CSV);
the admin keeps one detail page per row for links.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from wallet.models import CardReversal

from ..admin_site import staff_admin_site
from ..models import Compensation
from ..selectors.compensation import failure_text
from .base import ReadOnlyAdmin, yen


@admin.register(Compensation, site=staff_admin_site)
class CompensationAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "customer", "method", "amount", "state", "approval", "requested_at", "paid_at"]
    list_select_related = ["case", "customer", "approval"]
    readonly_fields = (
        "case",
        "customer",
        "method",
        "amount",
        "state",
        "failure_reason",
        "approval",
        "requested_by",
        "requested_at",
        "fraud_transfer",
        "paid_transfer",
        "gateway_refund_id",
        "paid_at",
    )
    fields = readonly_fields

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # One list with the incident filters and CSV, rather than two that drift apart.
        return HttpResponseRedirect(reverse("admin:incident_compensation_list"))

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: Compensation) -> str:
        return yen(obj.amount_yen)

    @admin.display(description=_("why it failed"))
    def failure_reason(self, obj: Compensation) -> str:
        return failure_text(obj.failure) if obj.failure else "—"


@admin.register(CardReversal, site=staff_admin_site)
class CardReversalAdmin(ReadOnlyAdmin):
    """Issuers' chargebacks as the gateway reported them (``backoffice.tasks.card_reversals_sync``)."""

    list_display = ["reversed_at", "charge_id", "customer", "amount", "reason", "recorded_at"]
    list_select_related = ["topup__user"]
    search_fields = ["charge_id", "topup__user__email"]
    search_help_text = _("Search by gateway charge id or customer email.")
    date_hierarchy = "reversed_at"

    @admin.display(description=_("customer"), ordering="topup__user__email")
    def customer(self, obj: CardReversal) -> str:
        return obj.topup.user.email

    @admin.display(description=_("amount"), ordering="amount_yen")
    def amount(self, obj: CardReversal) -> str:
        return yen(obj.amount_yen)
