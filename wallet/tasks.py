from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.core import signing

from .request_meta import RequestMeta
from .services.notifications import notifications_relay_due
from .services.reset import password_reset_mail

logger = logging.getLogger(__name__)


@shared_task(name="wallet.tasks.notifications_relay", ignore_result=True)
def notifications_relay() -> int:
    """Deliver due outbox rows. Runs after each commit that queues mail and on a beat
    schedule as a safety net; two copies at once skip each other's locked rows."""
    return notifications_relay_due()


# What a reset request decided travels signed with the site's secret: a message that
# does not carry it (a hand-made or scheduled call, B10) cannot choose the address
# logged, lift the per-address limit or mail anybody.
RESET_REQUEST_SALT = "wallet.tasks.password_reset_mail"
# A request older than this is not mailed: the customer has long since asked again.
RESET_REQUEST_MAX_AGE_SECONDS = 3600


def password_reset_mail_queue(*, email: str, send: bool, meta: RequestMeta) -> None:
    """Queue the mail half of a reset request the web or API path accepted (``password_reset_request``)."""
    signed = signing.dumps(
        {"email": email, "send": bool(send), "ip": meta.ip, "user_agent": meta.user_agent, "channel": meta.channel},
        salt=RESET_REQUEST_SALT,
        compress=True,
    )
    password_reset_mail_task.delay(request=signed)


@shared_task(name="wallet.tasks.password_reset_mail", ignore_result=True)
def password_reset_mail_task(request: str = "", **unsigned: Any) -> bool:
    """The half of a reset request that depends on whether the account exists. Run
    twice, it queues a second link for the same address on record: harmless, and
    the per-address rate limit in the view bounds it.

    It acts only on the signed request ``password_reset_mail_queue`` made: the
    address, whether the rate limit allows a mail, the client's IP and user agent
    all come from it. Anything else (unsigned keyword arguments, a bad or expired
    signature) is refused: no mail, no authentication event in a made-up name."""
    try:
        data = signing.loads(request, salt=RESET_REQUEST_SALT, max_age=RESET_REQUEST_MAX_AGE_SECONDS)
    except signing.BadSignature:  # SignatureExpired included
        logger.warning("password reset mail refused: no valid signed request (arguments: %s)", sorted(unsigned))
        return False
    meta = RequestMeta(ip=data.get("ip"), user_agent=str(data.get("user_agent") or ""), channel=str(data.get("channel") or "web"))
    return password_reset_mail(email=str(data["email"]), send=bool(data["send"]), meta=meta)


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
