"""Look-back hunts in the admin index: the entry leads to the hunt pages
(``/admin/incident/hunts/``), which have the start form, the progress bar and the hits."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from ..admin_site import staff_admin_site
from ..models import Hunt
from .base import ReadOnlyAdmin


@admin.register(Hunt, site=staff_admin_site)
class HuntAdmin(ReadOnlyAdmin):
    """Only an index entry: the list and each hunt open the incident pages, which
    check ``view_hunt`` (and ``view_hunthit`` for the hits) themselves."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:incident_hunt_list"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not object_id.isdigit():
            return HttpResponseRedirect(reverse("admin:incident_hunt_list"))
        return HttpResponseRedirect(reverse("admin:incident_hunt_detail", args=[int(object_id)]))
