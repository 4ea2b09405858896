"""Celery tasks of the refund programme: thin wrappers that take ids, call a service and are safe to run twice."""

from .programme import programme_deadlines, shutdown_notices_queue

__all__ = ["programme_deadlines", "shutdown_notices_queue"]
