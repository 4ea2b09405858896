"""The staff audit log: read-only, exportable as CSV by those allowed (the export is audited too)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.request_meta import client_ip

from ..admin_site import staff_admin_site
from ..models import StaffAction
from ..selectors import staff_action_csv_rows
from ..services.exports import staff_action_export_record
from .base import ReadOnlyAdmin


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.register(StaffAction, site=staff_admin_site)
class StaffActionAdmin(ReadOnlyAdmin):
    """The append-only audit log (B07): readable with ``view_staffaction``, exportable
    as CSV with ``export_staffaction``. The export is itself audited."""

    list_display = ["created_at", "actor", "action", "target_type", "target_repr", "reason", "ip"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor__email", "action", "target_id", "target_repr", "reason"]
    search_help_text = _("Search by staff email, action, target or reason.")
    date_hierarchy = "created_at"
    list_select_related = ["actor"]
    actions = ["export_selected"]

    def get_urls(self) -> list[URLPattern]:
        export = path("export/", self.admin_site.admin_view(self.export_view), name="backoffice_staffaction_export")
        return [export, *super().get_urls()]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("backoffice.export_staffaction"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"can_export": self.has_export_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def _csv_response(self, request: HttpRequest, queryset: models.QuerySet[StaffAction], filters: str) -> StreamingHttpResponse:
        staff_action_export_record(acting_user=request.user, filters=filters, row_count=queryset.count(), ip=client_ip(request))  # type: ignore[arg-type]
        writer = csv.writer(_Echo())
        rows: Iterator[str] = (writer.writerow(row) for row in staff_action_csv_rows(queryset))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="staff-actions.csv"'
        return response

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """Export what the list shows with the same filters and search (query string)."""
        if not (self.has_export_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            self.message_user(request, gettext("Those filters are not valid; nothing was exported."), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:backoffice_staffaction_changelist"))
        return self._csv_response(request, changelist.get_queryset(request), request.GET.urlencode())

    @admin.action(description=_("Export the selected actions as CSV"), permissions=["export"])
    def export_selected(self, request: HttpRequest, queryset: models.QuerySet[StaffAction]) -> HttpResponseBase:
        ids = list(queryset.values_list("pk", flat=True))
        return self._csv_response(request, StaffAction.objects.filter(pk__in=ids), f"selected:{len(ids)}")
