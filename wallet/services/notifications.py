"""The notifications outbox: write a row with the cause, relay it after commit.

Mail never leaves inside a request. With a worker, the relay is a Celery task. When Celery runs
eagerly (``CELERY_TASK_ALWAYS_EAGER=1``, as in the test suite), a task queued during a request would run inline, before the
answer, so a page that mails only known accounts would answer a few milliseconds later for
them (A12, S08). ``after_response`` holds such work until the response has been sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from ..field_length import fit
from ..models import Notification, User
from ..tokens import email_verification_tokens, password_reset_tokens, signed_payload_make, uid_encode

logger = logging.getLogger(__name__)

UNLOCK_SALT = "anzenpay.unlock"
EMAIL_CHANGE_SALT = "anzenpay.email-change"

# Kinds whose mail carries a link minted at render time; the token never sits in the outbox row.
LinkBuilder = Callable[[User, dict[str, Any]], dict[str, str]]


def _reset_link(user: User, context: dict[str, Any]) -> dict[str, str]:
    path = reverse("wallet:password_reset_confirm", args=[uid_encode(user), password_reset_tokens.make_token(user)])
    return {"link": settings.SITE_URL + path}


def _verify_link(user: User, context: dict[str, Any]) -> dict[str, str]:
    path = reverse("wallet:signup_verify_email", args=[uid_encode(user), email_verification_tokens.make_token(user)])
    return {"link": settings.SITE_URL + path}


def _unlock_link(user: User, context: dict[str, Any]) -> dict[str, str]:
    token = signed_payload_make({"uid": user.pk, "cc": user.credentials_changed_at.isoformat()}, salt=UNLOCK_SALT)
    return {"link": settings.SITE_URL + reverse("wallet:login_unlock", args=[token])}


def _email_change_link(user: User, context: dict[str, Any]) -> dict[str, str]:
    token = signed_payload_make({"uid": user.pk, "old": user.email, "new": context["new_email"]}, salt=EMAIL_CHANGE_SALT)
    return {"link": settings.SITE_URL + reverse("wallet:email_change_confirm", args=[token])}


LINK_BUILDERS: dict[str, LinkBuilder] = {
    "password_reset": _reset_link,
    "email_verify": _verify_link,
    "login_unlock": _unlock_link,
    "email_change_verify": _email_change_link,
}

KINDS = {
    "email_verify",
    "signup_existing_account",
    "password_reset",
    "password_changed",
    "password_reset_completed",
    "new_device_login",
    "factor_added",
    "factor_removed",
    "backup_codes_regenerated",
    "email_change_verify",
    "email_changed",
    "phone_changed",
    "login_unlock",
    "sessions_ended",
    "card_added",
    "card_removed",
    "topup_receipt",
    "topup_held",
    "topup_rejected",
    "compensation_paid",
    "payment_receipt",
    "payment_refund_receipt",
    "wallet_locked",
    "wallet_unlocked",
    "contact_proof_link",
    "first_factor_added",
    "first_factor_not_me_done",
    "login_code_failed",
    # The refund programme's (refunds app).
    "shutdown_notice",
    "refund_claim_received",
    "refund_claim_rejected",
    "refund_payout_returned",
    "refund_claim_paid",
    "refund_contact_link",
    "refund_status_link",
}


def notification_link_builder_register(kind: str, builder: LinkBuilder) -> None:
    """For apps above the wallet (refunds), whose mails carry a link minted at render time."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    LINK_BUILDERS[kind] = builder


def notification_enqueue(*, user: User, kind: str, context: dict[str, Any] | None = None, to_address: str | None = None) -> Notification:
    """Write an outbox row in the caller's transaction; relay it once that commits.

    ``to_address`` defaults to the address on record; only the email-change flow
    passes another one (the new address being proved, or the old one being told).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    notification = Notification.objects.create(
        user=user,
        to_address=to_address or user.email,
        kind=kind,
        language=user.preferred_language or settings.LANGUAGE_CODE,
        context=context or {},
    )
    transaction.on_commit(_schedule_relay)
    return notification


def _schedule_relay() -> None:
    from ..tasks import notifications_relay

    after_response(notifications_relay.delay)


# --- work held until the response is sent -----------------------------------------------------

_request_state = threading.local()


def _request_started(**_: Any) -> None:
    _request_state.active = True
    _request_state.jobs = []


def _request_finished(**_: Any) -> None:
    jobs: list[Callable[[], object]] = getattr(_request_state, "jobs", [])
    _request_state.active = False
    _request_state.jobs = []
    for job in jobs:
        try:
            job()
        except Exception:  # the response is gone; the outbox and the beat relay are the safety net
            logger.exception("work queued for after the response failed")


request_started.connect(_request_started, dispatch_uid="wallet.notifications.request_started")
request_finished.connect(_request_finished, dispatch_uid="wallet.notifications.request_finished")


def after_response(job: Callable[[], object]) -> None:
    """Publish a task (``job`` is e.g. ``task.delay`` or a lambda around it) out of the request path.

    With a worker, publishing is all the request does, so the job runs now. With eager Celery inside
    a request, the job would do the task's work inline, so it is held until the response has been
    sent (Django's ``request_finished``). Outside a request (a command, a task) it runs now."""
    if settings.CELERY_TASK_ALWAYS_EAGER and getattr(_request_state, "active", False):
        _request_state.jobs.append(job)
        return
    job()


def notification_render(notification: Notification) -> tuple[str, str]:
    user = notification.user
    context: dict[str, Any] = {"site_url": settings.SITE_URL, "user": user, **notification.context}
    builder = LINK_BUILDERS.get(notification.kind)
    if builder is not None and user is not None:
        context.update(builder(user, notification.context))
    with translation.override(notification.language):
        subject = render_to_string(f"notifications/{notification.kind}_subject.txt", context).strip()
        body = render_to_string(f"notifications/{notification.kind}_body.txt", context)
    return " ".join(subject.split()), body


def notification_deliver(*, notification_id: int) -> bool:
    """Send one due notification. Safe to call twice: the row is locked and
    re-checked, and marked sent in the same transaction as the send."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(pk=notification_id, status=Notification.Status.PENDING)
            .first()
        )
        if notification is None:
            return False
        try:
            subject, body = notification_render(notification)
            EmailMessage(subject=subject, body=body, to=[notification.to_address]).send()
        except Exception as exc:  # noqa: BLE001 - any delivery failure is retried later
            notification.attempts += 1
            notification.last_error = fit(Notification, "last_error", f"{type(exc).__name__}: {exc}")
            backoff = timedelta(seconds=min(3600, 30 * 2**notification.attempts))
            notification.send_after = timezone.now() + backoff
            if notification.attempts >= Notification.MAX_ATTEMPTS:
                notification.status = Notification.Status.FAILED
            notification.save(update_fields=["attempts", "last_error", "send_after", "status"])
            logger.warning("notification %s not delivered: %s", notification.pk, notification.last_error)
            return False
        notification.status = Notification.Status.SENT
        notification.sent_at = timezone.now()
        notification.attempts += 1
        notification.save(update_fields=["status", "sent_at", "attempts"])
    return True


def notifications_relay_due(*, max_messages: int | None = None, per_second: int | None = None) -> int:
    """Deliver due notifications, paced at ``per_second``; returns how many were sent."""
    limit = max_messages or settings.NOTIFICATIONS_BATCH_SIZE
    rate = per_second or settings.NOTIFICATIONS_PER_SECOND
    interval = 1.0 / rate if rate > 0 else 0.0
    due_ids = list(
        Notification.objects.filter(status=Notification.Status.PENDING, send_after__lte=timezone.now())
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    sent = 0
    for notification_id in due_ids:
        started = time.monotonic()
        if notification_deliver(notification_id=notification_id):
            sent += 1
            pause = interval - (time.monotonic() - started)
            if pause > 0:
                time.sleep(pause)
    return sent
