from __future__ import annotations

from celery import shared_task

from ..services.freezes import freezes_expired_release


@shared_task(name="backoffice.tasks.freezes_expired_release", ignore_result=True)
def freezes_expired_release_task() -> int:
    """Give sign-in back to customers whose staff "all" freezes have all expired.
    Safe to run twice: a customer already active is skipped."""
    return freezes_expired_release()
