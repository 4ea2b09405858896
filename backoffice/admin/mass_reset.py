"""Mass password resets in the admin index: the entry leads to the incident pages,
where requests are made, watched, paused and cancelled (nothing is edited here)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from ..admin_site import staff_admin_site
from ..models import MassReset
from .base import ReadOnlyAdmin


@admin.register(MassReset, site=staff_admin_site)
class MassResetAdmin(ReadOnlyAdmin):
    """Read-only; the list and each job open the incident pages (``admin:incident_mass_reset_*``)."""

    list_display = ["id", "state", "accounts_reset", "accounts_estimated", "created_by", "created_at", "finished_at"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:incident_mass_reset_list"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self.get_object(request, unquote(object_id))
        if job is None:
            return HttpResponseRedirect(reverse("admin:incident_mass_reset_list"))
        return HttpResponseRedirect(reverse("admin:incident_mass_reset_detail", args=[job.pk]))
