"""Refund pages: the customer portal (``portal``) and the staff refund desk (``staff_*``)."""
