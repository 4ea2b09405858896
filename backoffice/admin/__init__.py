"""Admin registrations on the staff site (``backoffice.admin_site.staff_admin_site``).

They live here, not in ``wallet/admin.py``, because ``wallet`` must not import
``backoffice``. Principles:

- Roles are groups with model permissions (migration 0004); the admin only
  shows what a permission allows (B08).
- Every change made through the admin writes a ``StaffAction`` row with the
  fields' old and new values in the same transaction. Logs and histories are
  read-only for everybody (B07); nothing can be bulk-deleted.
- Staff never see or set a password or any other secret (R07, L02): no password
  field, no digests, no session keys, no OTP device secrets.

Registrations by area: ``accounts`` (customers, staff, roles, authentication),
``switches``, ``approvals`` (maker-checker requests), ``cases`` (fraud cases,
worked on the incident pages), ``compensation`` (and recorded card chargebacks), ``hunts``, ``mass_reset``,
``audit_log``, ``schedules`` (beat's jobs, for the payout schedule), ``money`` (ledger, top-ups, payments, cards, holds) and ``risk``
(rules, decisions, limits). Shared bases are in ``base``.
"""

from . import accounts, approvals, audit_log, cases, compensation, hunts, mass_reset, money, risk, schedules, switches
from .base import AuditedAdmin, ReadOnlyAdmin

__all__ = [
    "AuditedAdmin",
    "ReadOnlyAdmin",
    "accounts",
    "approvals",
    "audit_log",
    "cases",
    "compensation",
    "hunts",
    "mass_reset",
    "money",
    "risk",
    "schedules",
    "switches",
]
