"""Back-office pages. ``enrol`` is the staff first-login page under ``/staff/``;
the incident pages (console, review queue, cases, hunts, compensation, mass
reset, dashboard) live inside the OTP admin site under ``/admin/incident/`` and
are collected in ``backoffice.incident_urls``."""
