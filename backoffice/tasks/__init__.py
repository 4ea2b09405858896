"""Celery tasks of the back-office, one module per area. Every task has an
explicit ``name`` so moving code never breaks a beat schedule or a queued message."""

from . import compensation, freezes, hunts, mass_reset

__all__ = ["compensation", "freezes", "hunts", "mass_reset"]
