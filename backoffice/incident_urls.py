"""The incident pages, mounted by ``StaffAdminSite.get_urls`` under ``/admin/incident/``.

Every view is wrapped in the admin site's ``admin_view``: a staff login with a
verified second factor (A05) and the staff session clocks (S05). Each page then
checks its own permission (``views.base.staff_page``). URL names are in the
``admin`` namespace, e.g. ``admin:incident_dashboard``.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from .views import cases, compensation, console, dashboard, hunts, mass_reset, review


def incident_urlpatterns(wrap: object) -> list[URLPattern | URLResolver]:
    patterns: list[URLPattern | URLResolver] = []
    for module in (console, dashboard, review, cases, hunts, compensation, mass_reset):
        for pattern in module.urlpatterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = wrap(pattern.callback)  # type: ignore[operator]
            patterns.append(pattern)
    return patterns
