"""The refund desk for staff, under ``/admin/refund-desk/`` (URL namespace ``refunds_staff``).

Every view is wrapped in the staff admin site's ``admin_view`` (a staff login
with a verified second factor, A05, and the staff session clocks, S05); each
page then checks its own permission with ``backoffice.views.base.staff_page``.
"""

from __future__ import annotations

from django.urls import URLPattern

from backoffice.admin_site import staff_admin_site

from .views import staff_claims, staff_payouts, staff_reports

app_name = "refunds_staff"

urlpatterns: list[URLPattern] = []
for _module in (staff_claims, staff_payouts, staff_reports):
    for _pattern in _module.urlpatterns:
        _pattern.callback = staff_admin_site.admin_view(_pattern.callback)
        urlpatterns.append(_pattern)
