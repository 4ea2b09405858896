"""The staff audit log: read-only; filters by action, staff member, target type and
date range; search by target, reason or staff email; exportable as CSV by those
allowed (the export is audited too)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.csv_export import csv_streaming_response
from wallet.models import User
from wallet.request_meta import client_ip

from ..admin_site import staff_admin_site
from ..models import StaffAction
from ..selectors import staff_action_csv_rows
from ..services.exports import export_record
from .base import ReadOnlyAdmin

REASON_SHOWN = 100
EXPORT_PERMISSION = "backoffice.export_staffaction"


class ActorFilter(admin.SimpleListFilter):
    """Staff members only: the log's actors are staff (or the system), and listing
    every customer would load millions of rows."""

    title = _("staff member")
    parameter_name = "actor"
    SYSTEM = "system"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        staff = User.objects.filter(is_staff=True).order_by("email").values_list("pk", "email")
        return [(self.SYSTEM, gettext("The system (no person)")), *((str(pk), email) for pk, email in staff)]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet[StaffAction]) -> models.QuerySet[StaffAction]:
        value = self.value()
        if value is None:
            return queryset
        if value == self.SYSTEM:
            return queryset.filter(actor__isnull=True)
        if not value.isdigit():
            raise IncorrectLookupParameters(value)
        return queryset.filter(actor_id=int(value))


class DateRangeFilter(admin.ListFilter):
    """From and until dates (both included, local time), typed into two date fields.

    A date that is not a date, or a range that ends before it starts, shows an error
    in the filter and matches nothing: a list that silently ignored it would look
    filtered when it is not (and an export of it would hold rows nobody asked for).
    """

    title = _("date")
    template = "admin/backoffice/staffaction/date_range_filter.html"
    FROM, UNTIL = "created_from", "created_until"

    def __init__(self, request: HttpRequest, params: dict[str, list[str]], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        self.error = ""
        self.dates: dict[str, date] = {}
        for name in (self.FROM, self.UNTIL):
            if name in params:
                raw = params.pop(name)[-1].strip()
                self.used_parameters[name] = raw
                if not raw:
                    continue
                try:
                    self.dates[name] = date.fromisoformat(raw)
                except ValueError:
                    self.error = gettext("Enter dates as YYYY-MM-DD.")
        if not self.error and self.FROM in self.dates and self.UNTIL in self.dates and self.dates[self.FROM] > self.dates[self.UNTIL]:
            self.error = gettext("The start date is after the end date.")

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.FROM, self.UNTIL]

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        """One "choice": what the form needs, including the other filters to keep as hidden fields."""
        keep = [
            (name, value) for name, values in changelist.filter_params.items() if name not in (self.FROM, self.UNTIL) for value in values
        ]
        yield {
            "from": self.used_parameters.get(self.FROM, ""),
            "until": self.used_parameters.get(self.UNTIL, ""),
            "keep": keep,
            "error": self.error,
            "clear_url": changelist.get_query_string(remove=[self.FROM, self.UNTIL]),
            "selected": bool(self.used_parameters),
        }

    def queryset(self, request: HttpRequest, queryset: models.QuerySet[StaffAction]) -> models.QuerySet[StaffAction]:
        if self.error:
            return queryset.none()
        zone = timezone.get_current_timezone()
        if self.FROM in self.dates:
            queryset = queryset.filter(created_at__gte=datetime.combine(self.dates[self.FROM], time.min, tzinfo=zone))
        if self.UNTIL in self.dates:
            queryset = queryset.filter(created_at__lt=datetime.combine(self.dates[self.UNTIL] + timedelta(days=1), time.min, tzinfo=zone))
        return queryset


@admin.register(StaffAction, site=staff_admin_site)
class StaffActionAdmin(ReadOnlyAdmin):
    """The append-only audit log (B07): readable with ``view_staffaction``, exportable
    as CSV with ``export_staffaction``. The export is itself audited."""

    list_display = ["when", "actor", "action", "target", "short_reason", "ip"]
    list_filter = ["action", ActorFilter, "target_type", DateRangeFilter]
    search_fields = ["actor__email", "action", "target_id", "target_repr", "reason"]
    search_help_text = _("Search by staff email, action, target (id or name) or reason.")
    date_hierarchy = "created_at"
    list_select_related = ["actor"]
    actions = ["export_selected"]

    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: StaffAction) -> str:
        return f"{timezone.localtime(obj.created_at):%Y-%m-%d %H:%M:%S}"

    @admin.display(description=_("target"), ordering="target_repr")
    def target(self, obj: StaffAction) -> str:
        if not obj.target_type:
            return "—"
        return format_html('{}<div class="help">{} #{}</div>', obj.target_repr, obj.target_type, obj.target_id)

    @admin.display(description=_("reason"))
    def short_reason(self, obj: StaffAction) -> str:
        # The full reason is on the detail page and in the CSV; the list stays scannable.
        return Truncator(obj.reason).chars(REASON_SHOWN)

    def get_urls(self) -> list[URLPattern]:
        export = path("export/", self.admin_site.admin_view(self.export_view), name="backoffice_staffaction_export")
        return [export, *super().get_urls()]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(EXPORT_PERMISSION))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"can_export": self.has_export_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def _csv_response(self, request: HttpRequest, queryset: models.QuerySet[StaffAction], filters: str) -> StreamingHttpResponse:
        export_record(
            acting_user=request.user,  # type: ignore[arg-type]
            what="staff_action.export",
            filters=filters,
            row_count=queryset.count(),
            ip=client_ip(request),
            permission=EXPORT_PERMISSION,
        )
        rows = staff_action_csv_rows(queryset)  # the header first, then the actions
        return csv_streaming_response(filename="staff-actions.csv", header=next(rows), rows=rows, bom=False)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """Export what the list shows with the same filters and search (query string)."""
        if not (self.has_export_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            changelist = None
        if changelist is None or any(getattr(spec, "error", "") for spec in changelist.filter_specs):
            self.message_user(request, gettext("Those filters are not valid; nothing was exported."), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:backoffice_staffaction_changelist"))
        return self._csv_response(request, changelist.get_queryset(request), request.GET.urlencode())

    @admin.action(description=_("Export the selected actions as CSV"), permissions=["export"])
    def export_selected(self, request: HttpRequest, queryset: models.QuerySet[StaffAction]) -> HttpResponseBase:
        ids = list(queryset.values_list("pk", flat=True))
        return self._csv_response(request, StaffAction.objects.filter(pk__in=ids), f"selected:{len(ids)}")
