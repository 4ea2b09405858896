from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite


class StaffAdminSite(OTPAdminSite):
    """The Django admin behind django-otp: no page without a verified second factor (A05)."""

    site_header = _("AnzenPay back-office")
    site_title = _("AnzenPay back-office")
    index_title = _("Operations")


staff_admin_site = StaffAdminSite(name="admin")
