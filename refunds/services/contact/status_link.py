"""Claim status links for holders who cannot log in: see the package docstring."""

from __future__ import annotations

import hmac
import logging
import unicodedata
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from wallet.field_length import fit
from wallet.models import User, normalize_email, secret_digest
from wallet.request_meta import RequestMeta
from wallet.services.notifications import notification_enqueue
from wallet.tokens import signed_payload_make, signed_payload_read

from ...models import RefundClaim

security_log = logging.getLogger("anzenpay.security")

STATUS_LINK_KIND = "refund_status_link"
STATUS_LINK_SALT = "anzenpay.refund-status"
STATUS_LINK_LIFETIME = timedelta(hours=24)
_EMAIL_PURPOSE = "refund-status-email"


def _email_tag(email: str) -> str:
    return secret_digest(email, purpose=_EMAIL_PURPOSE)[:24]


def status_link_build(user: User, context: dict[str, Any]) -> dict[str, str]:
    """Link builder of ``refund_status_link`` mails: a signed, timestamped payload that names the
    claim and (as a digest) the address it was sent to, so it dies when the email changes."""
    token = signed_payload_make({"c": int(context.get("claim_id") or 0), "e": _email_tag(user.email)}, salt=STATUS_LINK_SALT)
    return {"link": settings.SITE_URL + reverse("refunds:status_link", args=[token])}


def status_link_claim(token: str) -> RefundClaim | None:
    """The claim a status link opens, if the link is genuine, unexpired and its address still on record."""
    data = signed_payload_read(token or "", salt=STATUS_LINK_SALT, max_age_seconds=int(STATUS_LINK_LIFETIME.total_seconds()))
    claim_id = data.get("c") if data is not None else None
    if data is None or not isinstance(claim_id, int):
        return None
    claim = RefundClaim.objects.select_related("customer").filter(pk=claim_id).first()
    if claim is None or not claim.customer.is_active:
        return None
    if not hmac.compare_digest(str(data.get("e", "")), _email_tag(claim.customer.email)):
        return None
    return claim


# --- Claim status links -------------------------------------------------------------------


def claim_number_normalise(raw: str) -> str:
    """ "r 0123-456789" or full-width "Ｒ０１２３４５６７８９" → "R0123456789"."""
    text = unicodedata.normalize("NFKC", raw or "").upper()
    return fit(RefundClaim, "number", "".join(char for char in text if char.isalnum()))


def status_link_request(*, number: str, email: str, meta: RequestMeta, send: bool = True) -> None:
    """Like ``contact_proof_request``: nothing account-dependent on the request path (A12)."""
    if not send:
        return
    transaction.on_commit(
        lambda: status_link_send_task.delay(number=claim_number_normalise(number), email=normalize_email(email), ip=meta.ip)
    )


def status_link_send(*, number: str, email: str, meta: RequestMeta) -> bool:
    """Mail a status link to the address on record if this claim is this address's."""
    claim = (
        RefundClaim.objects.select_related("customer")
        .filter(number=claim_number_normalise(number), customer__email=normalize_email(email), customer__is_active=True)
        .first()
    )
    if claim is None:
        security_log.info("refund_status_link matched=0 ip=%s", meta.ip or "-")
        return False
    notification_enqueue(
        user=claim.customer,
        kind=STATUS_LINK_KIND,
        context={"claim_id": claim.pk, "claim_number": claim.number, "hours": int(STATUS_LINK_LIFETIME.total_seconds() // 3600)},
    )
    security_log.info("refund_status_link matched=1 claim=%s ip=%s", claim.pk, meta.ip or "-")
    return True


@shared_task(name="refunds.tasks.status_link_send", ignore_result=True)
def status_link_send_task(*, number: str, email: str, ip: str | None) -> bool:
    """Thin task around ``status_link_send``; run twice it mails a second link: harmless, rate-limited."""
    return status_link_send(number=number, email=email, meta=RequestMeta(ip=ip, user_agent=""))
