"""The look-back hunt jobs. Callers send them to the ``bulk`` queue (``config.queues.BULK_QUEUE``) with
the other long jobs, so a hunt over millions of rows never delays mail or payouts."""

from __future__ import annotations

from celery import shared_task
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet.models import User

from ..models import Hunt
from ..services.hunts import OPEN_CASES_PERMISSION, SEE_HITS_PERMISSION, hunt_cases_open, hunt_run
from ..services.hunts.runner import logger


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
    Safe to run twice: hits that already have a case are skipped.

    The actor id comes from the message, so it is verified before anything is done in
    that person's name (B10): an active staff account with a second factor, holding the
    permissions the act needs now, for a hunt that has finished. Anything else is refused
    and logged; nothing changes."""
    hunt = Hunt.objects.filter(pk=hunt_id).first()
    user = hunt_actor_verified(acting_user_id)
    if hunt is None or user is None:
        logger.warning(
            "hunt cases: refused, hunt %s missing or user %s not an active staff member allowed to open cases", hunt_id, acting_user_id
        )
        return 0
    if hunt.state not in (Hunt.State.DONE, Hunt.State.FAILED, Hunt.State.CANCELLED):
        logger.warning("hunt cases: refused, hunt %s is %s", hunt_id, hunt.state)
        return 0
    result = hunt_cases_open(hunt=hunt, hit_ids=hit_ids, acting_user=user, ip=ip)
    return result.opened + result.joined


def hunt_actor_verified(user_id: object) -> User | None:
    """The staff member a queued act names, if they may do it: active, staff, with a confirmed
    second factor and the permissions to see hits and open cases."""
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    user = User.objects.filter(pk=user_id, is_active=True, is_staff=True, status=User.Status.ACTIVE).first()
    if user is None or not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return None
    if not user.has_perms([OPEN_CASES_PERMISSION, SEE_HITS_PERMISSION]):
        return None
    return user
