"""The contact proof of the no-login route: see the package docstring for how and why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.adapters.sms import SmsDeliveryError, sms_send
from wallet.models import User, normalize_email, secret_digest
from wallet.request_meta import RequestMeta
from wallet.services.notifications import after_response, notification_enqueue

from ...models import CONTACT_CODE_ATTEMPTS_MAX, CONTACT_PROOF_LIFETIME, ContactProof, RefundClaim
from ..claims import claim_details_correct, claim_submit
from ..errors import RefundRefused
from ..payee import CleanBankDetails, CleanPostalDetails

security_log = logging.getLogger("anzenpay.security")

CONTACT_LINK_KIND = "refund_contact_link"
_SESSION_PURPOSE = "refund-contact-session"
_LINK_PURPOSE = "refund-contact-link"
_CODE_PURPOSE = "refund-contact-code"


# --- Session binding and tokens -------------------------------------------------------


def contact_session_digest(session_key: str) -> str:
    """What a proof stores to know the browser that asked: a keyed digest, never the key itself."""
    return secret_digest(session_key, purpose=_SESSION_PURPOSE)


def contact_link_token(proof: ContactProof) -> str:
    """The mailed token: an HMAC over the proof id and its creation time with SECRET_KEY."""
    message = f"{proof.pk}:{int(proof.created_at.timestamp() * 1_000_000)}".encode()
    mac = hmac.new(f"{settings.SECRET_KEY}:{_LINK_PURPOSE}".encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _code_digest(code: str) -> str:
    return secret_digest(code, purpose=_CODE_PURPOSE)


def contact_link_build(user: User, context: dict[str, Any]) -> dict[str, str]:
    """Link builder of ``refund_contact_link`` mails, run when the outbox renders the mail."""
    proof = ContactProof.objects.filter(pk=int(context.get("proof_id") or 0), user=user).first()
    if proof is None:
        return {"link": settings.SITE_URL + reverse("refunds:contact")}
    path = reverse("refunds:contact_link", args=[proof.pk, contact_link_token(proof)])
    return {"link": settings.SITE_URL + path}


# --- Starting a proof -------------------------------------------------------------------


def contact_proof_request(*, email: str, phone: str, session_digest: str, meta: RequestMeta, send: bool = True) -> None:
    """Accept a contact-proof request without looking at any account (A12): the lookup, the
    mail and the SMS happen in ``contact_proof_send`` after commit. ``send`` is False when
    the per-address limit is spent: the person gets the same page, nothing leaves."""
    if not send:
        return
    # after_response: with eager Celery (the test suite) the lookup, the mail and the SMS would otherwise run before the answer.
    transaction.on_commit(
        lambda: after_response(
            lambda: contact_proof_send_task.delay(
                email=email, phone=phone, session_digest=session_digest, ip=meta.ip, user_agent=meta.user_agent
            )
        )
    )


def _matching_customer(*, email: str, phone: str) -> User | None:
    """An active customer whose verified email AND verified phone are exactly these (normalised)."""
    user = User.objects.filter(email=normalize_email(email), is_staff=False).first()
    if user is None or not phone or user.phone != phone:
        return None
    if not user.is_active or user.status != User.Status.ACTIVE:
        return None
    if user.email_verified_at is None or user.phone_verified_at is None:
        return None
    return user


def contact_proof_send(*, email: str, phone: str, session_digest: str, meta: RequestMeta) -> bool:
    """The account-dependent half of a request. Returns whether a link and a code were sent."""
    user = _matching_customer(email=email, phone=phone)
    if user is None:
        security_log.info("refund_contact_request matched=0 ip=%s", meta.ip or "-")
        return False
    try:
        contact_proof_start(user=user, session_digest=session_digest, meta=meta)
    except SmsDeliveryError:
        return False
    return True


def contact_proof_start(*, user: User, session_digest: str, meta: RequestMeta, purpose: str = "claim") -> ContactProof:
    """A new proof for this browser: a link mailed to ``user.email`` and a code texted to
    ``user.phone`` (the contact on record, R01). Earlier open proofs of the same browser end.

    The SMS is sent inside the transaction, as the wallet's phone codes are: if the provider
    refuses, the proof and its mail are rolled back and ``SmsDeliveryError`` propagates."""
    now = timezone.now()
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        ContactProof.objects.filter(session_digest=session_digest, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
        proof = ContactProof.objects.create(
            user=locked,
            session_digest=session_digest,
            # A placeholder until the id exists; the token hashes the id, so its digest is set just below.
            email_token_digest=secrets.token_hex(32),
            sms_code_digest=_code_digest(code),
            created_at=now,
            expires_at=now + CONTACT_PROOF_LIFETIME,
        )
        proof.email_token_digest = _token_digest(contact_link_token(proof))
        proof.save(update_fields=["email_token_digest"])
        # The mail goes to the address on record (notification_enqueue's default); only the proof id is stored.
        notification_enqueue(
            user=locked, kind=CONTACT_LINK_KIND, context={"proof_id": proof.pk, "minutes": _lifetime_minutes(), "purpose": purpose}
        )
        with translation.override(locked.preferred_language or settings.LANGUAGE_CODE):
            body = gettext(
                "AnzenPay refund: your code is %(code)s (valid %(minutes)s minutes). Type it on the page where you asked for it. "
                "Never share it; AnzenPay staff will never ask for it."
            ) % {"code": code, "minutes": _lifetime_minutes()}
        try:
            sms_send(to=locked.phone, body=body)
        except SmsDeliveryError:
            security_log.warning("refund_contact_sms_failed user=%s ip=%s", locked.pk, meta.ip or "-")
            raise
    security_log.info("refund_contact_request matched=1 user=%s proof=%s ip=%s", locked.pk, proof.pk, meta.ip or "-")
    return proof


def _lifetime_minutes() -> int:
    return int(CONTACT_PROOF_LIFETIME.total_seconds() // 60)


@shared_task(name="refunds.tasks.contact_proof_send", ignore_result=True)
def contact_proof_send_task(*, email: str, phone: str, session_digest: str, ip: str | None, user_agent: str) -> bool:
    """Thin task around ``contact_proof_send``. Run twice, it starts a second proof for the same
    browser, which ends the first: harmless, and the view's rate limits bound it."""
    return contact_proof_send(email=email, phone=phone, session_digest=session_digest, meta=RequestMeta(ip=ip, user_agent=user_agent))


# --- Completing a proof -----------------------------------------------------------------


class LinkOutcome(Enum):
    PROVED = "proved"
    OTHER_BROWSER = "other_browser"
    EXPIRED = "expired"
    INVALID = "invalid"


class CodeOutcome(Enum):
    PROVED = "proved"
    WRONG = "wrong"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CodeResult:
    outcome: CodeOutcome
    attempts_left: int = 0


def _open(proof: ContactProof, now: Any) -> bool:
    return proof.used_at is None and proof.expires_at > now and proof.code_attempts < CONTACT_CODE_ATTEMPTS_MAX


def contact_link_open(*, proof_id: int, token: str, session_digest: str) -> LinkOutcome:
    """The mailed link, opened: proves the email if this is the browser that asked."""
    now = timezone.now()
    with transaction.atomic():
        proof = ContactProof.objects.select_for_update().filter(pk=proof_id).first()
        if proof is None or not hmac.compare_digest(_token_digest(token or ""), proof.email_token_digest):
            return LinkOutcome.INVALID
        if not _open(proof, now):
            return LinkOutcome.EXPIRED
        if not hmac.compare_digest(proof.session_digest, session_digest):
            # A mail scanner, or the mail opened on another device: nothing changes.
            return LinkOutcome.OTHER_BROWSER
        if proof.email_proved_at is None:
            proof.email_proved_at = now
            proof.save(update_fields=["email_proved_at"])
    return LinkOutcome.PROVED


def contact_proof_current(*, session_digest: str) -> ContactProof | None:
    """This browser's newest proof that can still be completed or used."""
    now = timezone.now()
    proof = ContactProof.objects.filter(session_digest=session_digest).select_related("user").order_by("-created_at", "-pk").first()
    return proof if proof is not None and _open(proof, now) else None


def contact_code_verify(*, proof_id: int, session_digest: str, code: str) -> CodeResult:
    """Check the SMS code under the proof's row lock: capped attempts, once, before expiry (A06)."""
    code = "".join((code or "").split())
    now = timezone.now()
    with transaction.atomic():
        proof = ContactProof.objects.select_for_update().filter(pk=proof_id, session_digest=session_digest).first()
        if proof is None or proof.email_proved_at is None or proof.used_at is not None or proof.expires_at <= now:
            return CodeResult(CodeOutcome.EXPIRED)
        if proof.phone_proved_at is not None:
            # The code worked once already; a second submission of it proves nothing new.
            return CodeResult(CodeOutcome.EXPIRED)
        if proof.code_attempts >= CONTACT_CODE_ATTEMPTS_MAX:
            return CodeResult(CodeOutcome.EXHAUSTED)
        if not (code.isascii() and code.isdigit() and len(code) == 6 and hmac.compare_digest(_code_digest(code), proof.sms_code_digest)):
            proof.code_attempts += 1
            proof.save(update_fields=["code_attempts"])
            left = CONTACT_CODE_ATTEMPTS_MAX - proof.code_attempts
            security_log.info("refund_contact_code_wrong proof=%s left=%s", proof.pk, left)
            return CodeResult(CodeOutcome.EXHAUSTED if left <= 0 else CodeOutcome.WRONG, attempts_left=max(left, 0))
        proof.phone_proved_at = now
        proof.save(update_fields=["phone_proved_at"])
    security_log.info("refund_contact_proved proof=%s user=%s", proof.pk, proof.user_id)
    return CodeResult(CodeOutcome.PROVED)


def contact_proof_complete(*, session_digest: str) -> ContactProof | None:
    """This browser's proof if both the email and the phone are proved and it is still unused."""
    proof = contact_proof_current(session_digest=session_digest)
    return proof if proof is not None and proof.is_complete else None


def _proof_locked(proof_id: int, session_digest: str) -> ContactProof:
    proof = (
        ContactProof.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(pk=proof_id, session_digest=session_digest)
        .first()
    )
    if proof is None or not proof.is_complete or proof.expires_at <= timezone.now():
        raise RefundRefused(RefundRefused.Code.PROOF_EXPIRED, _("Your confirmation has expired or was already used. Please start again."))
    return proof


# --- Using a proof ------------------------------------------------------------------------


def contact_claim_submit(
    *,
    proof_id: int,
    session_digest: str,
    method: str,
    confirmed_amount_yen: int,
    bank: CleanBankDetails | None = None,
    postal: CleanPostalDetails | None = None,
    stated_name: str = "",
    stated_birth_date: date | None = None,
) -> RefundClaim:
    """File the claim of the proved holder (route ``contact``: always reviewed) and use the proof.
    Lock order: the proof, then (inside ``claim_submit``) the wallet."""
    with transaction.atomic():
        proof = _proof_locked(proof_id, session_digest)
        claim = claim_submit(
            customer=proof.user,
            route=RefundClaim.Route.CONTACT,
            method=method,
            confirmed_amount_yen=confirmed_amount_yen,
            bank=bank,
            postal=postal,
            stated_name=stated_name,
            stated_birth_date=stated_birth_date,
        )
        proof.used_at = timezone.now()
        proof.save(update_fields=["used_at"])
    return claim


def contact_details_correct(
    *,
    proof_id: int,
    session_digest: str,
    claim: RefundClaim,
    bank: CleanBankDetails | None = None,
    postal: CleanPostalDetails | None = None,
) -> RefundClaim:
    """New payee details for a returned claim, by the holder who proved the contact on record again."""
    with transaction.atomic():
        proof = _proof_locked(proof_id, session_digest)
        if proof.user_id != claim.customer_id:
            raise RefundRefused(RefundRefused.Code.NOT_YOURS, _("This is not your claim."))
        corrected = claim_details_correct(claim=claim, customer=proof.user, bank=bank, postal=postal)
        proof.used_at = timezone.now()
        proof.save(update_fields=["used_at"])
    return corrected
