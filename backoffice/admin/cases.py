"""Cases in the admin index: read-only registrations whose pages lead to the
incident case pages, where cases are worked (``backoffice.views.cases``)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..admin_site import staff_admin_site
from ..models import Case, CaseEvent, CaseTransaction
from .base import ReadOnlyAdmin, yen


def _case_link(case: Case) -> str:
    return format_html('<a href="{}">#{}</a>', reverse("admin:incident_case_detail", args=[case.pk]), case.pk)


@admin.register(Case, site=staff_admin_site)
class CaseAdmin(ReadOnlyAdmin):
    """The list and each case open the case pages, which show the pipeline, history and actions."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            return super().changelist_view(request, extra_context)
        return HttpResponseRedirect(reverse("admin:incident_case_list"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request) or not str(object_id).isdigit():
            return super().change_view(request, object_id, form_url, extra_context)
        return HttpResponseRedirect(reverse("admin:incident_case_detail", args=[int(object_id)]))


@admin.register(CaseTransaction, site=staff_admin_site)
class CaseTransactionAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "case_link", "customer", "kind", "amount", "added_by"]
    list_filter = ["kind", "occurred_at"]
    search_fields = ["case__customer__email", "=transfer__public_id"]
    search_help_text = _("Search by customer email or exact transaction reference.")
    list_select_related = ["case__customer", "added_by"]
    date_hierarchy = "occurred_at"

    @admin.display(description=_("case"), ordering="case")
    def case_link(self, obj: CaseTransaction) -> str:
        return _case_link(obj.case)

    @admin.display(description=_("customer"), ordering="case__customer__email")
    def customer(self, obj: CaseTransaction) -> str:
        return obj.case.customer.email

    @admin.display(description=_("amount (yen)"), ordering="amount_yen")
    def amount(self, obj: CaseTransaction) -> str:
        return yen(obj.amount_yen)


@admin.register(CaseEvent, site=staff_admin_site)
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "case_link", "kind", "from_status", "to_status", "actor", "note"]
    list_filter = ["kind", "created_at"]
    search_fields = ["case__customer__email", "note"]
    search_help_text = _("Search by customer email or note.")
    list_select_related = ["case", "actor"]
    date_hierarchy = "created_at"

    @admin.display(description=_("case"), ordering="case")
    def case_link(self, obj: CaseEvent) -> str:
        return _case_link(obj.case)
