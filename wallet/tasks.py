from __future__ import annotations

from celery import shared_task

from .request_meta import RequestMeta
from .services.notifications import notifications_relay_due
from .services.reset import password_reset_mail


@shared_task(name="wallet.tasks.notifications_relay", ignore_result=True)
def notifications_relay() -> int:
    """Deliver due outbox rows. Runs after each commit that queues mail and on a beat
    schedule as a safety net; two copies at once skip each other's locked rows."""
    return notifications_relay_due()


@shared_task(name="wallet.tasks.password_reset_mail", ignore_result=True)
def password_reset_mail_task(*, email: str, send: bool, ip: str | None, user_agent: str, channel: str) -> bool:
    """The half of a reset request that depends on whether the account exists. Run
    twice, it queues a second link for the same address on record: harmless, and
    the per-address rate limit in the view bounds it."""
    return password_reset_mail(email=email, send=send, meta=RequestMeta(ip=ip, user_agent=user_agent, channel=channel))


@shared_task(name="wallet.tasks.topups_reconcile", ignore_result=True)
def topups_reconcile_task() -> int:
    """Settle card top-ups a gateway timeout or a crash left pending. Safe to run
    twice: each top-up is settled under its row lock and only while pending."""
    from .services.topups import topups_reconcile

    return topups_reconcile()


@shared_task(name="wallet.tasks.idempotency_purge", ignore_result=True)
def idempotency_purge_task() -> int:
    """Drop stored idempotent answers past their retention; deleting twice is harmless."""
    from .services.idempotency import idempotency_purge

    return idempotency_purge()
