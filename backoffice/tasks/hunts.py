"""The look-back hunt jobs. Callers send them to the ``bulk`` queue (``BULK_QUEUE``) with
the other long jobs, so a hunt over millions of rows never delays mail or payouts."""

from __future__ import annotations

from celery import shared_task

from ..models import Hunt
from ..services.hunts import hunt_cases_open, hunt_run
from ..services.hunts.runner import logger

BULK_QUEUE = "bulk"


@shared_task(name="backoffice.tasks.hunt_run", ignore_result=True)
def hunt_run_task(hunt_id: int) -> str | None:
    """Run or resume hunt ``hunt_id``. Safe to run twice, also at once: queued → running
    is a compare-and-set, and each slice runs once under the hunt's row lock, so a
    message re-delivered after a killed worker resumes where the last slice committed."""
    hunt = hunt_run(hunt_id=hunt_id)
    return hunt.state if hunt is not None else None


@shared_task(name="backoffice.tasks.hunt_cases_open", ignore_result=True)
def hunt_cases_open_task(*, hunt_id: int, hit_ids: list[int] | None, acting_user_id: int, ip: str | None = None) -> int:
    """Open cases for many hits in the background (the page does small selections itself).
    Safe to run twice: hits that already have a case are skipped."""
    from wallet.models import User

    hunt = Hunt.objects.filter(pk=hunt_id).first()
    user = User.objects.filter(pk=acting_user_id).first()
    if hunt is None or user is None:
        logger.warning("hunt cases: hunt %s or user %s is gone", hunt_id, acting_user_id)
        return 0
    result = hunt_cases_open(hunt=hunt, hit_ids=hit_ids, acting_user=user, ip=ip)
    return result.opened + result.joined
