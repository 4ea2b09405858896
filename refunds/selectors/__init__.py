"""Reads of the refund programme shared by the staff desk, the admin and the reports.

One module per area (``claims``, ``reports``, ...); import from the module, so each
area can grow without this file changing."""
