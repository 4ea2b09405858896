"""Refund registrations on the staff admin (``backoffice.admin_site.staff_admin_site``).

- ``programme``: the shutdown programme, made and changed through the programme
  services (the 60-day rule as field errors), announced from a confirmation page.
- ``claims``: claims with their history, payee details (account numbers masked
  except for those who may download the payout file), all read-only: claims are
  worked on the refund desk (``/admin/refund-desk/``), not edited here.
- ``payouts``: batches, payouts and result imports, read-only (the payout pages
  live on the desk), and the bank master corrections finance keeps.
"""

from . import claims, payouts, programme

__all__ = ["claims", "payouts", "programme"]
