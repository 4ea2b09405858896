"""The first second factor of a customer account (A13, A14).

7pay's accounts fell to whoever had the password. Here the password alone never
adds a factor: enrolling the *first* authenticator needs a fresh proof, in the
same flow, that the person controls a contact on record, an SMS code to the
verified phone or a link to the verified email (``ContactProof``). Sign-up's own
email link is such a proof, so the enrolment that ends a sign-up needs no other.

A first factor added to an account that already existed without one starts a
cooling-off period (``User.factor_cooling_off_until``): money leaving the wallet
is capped and what goes beyond is declined into the review queue
(``risk.cooling_off``), and the owner's email and phone are told at once, with a
"this was not me" link that locks the wallet, removes the factor, ends every
session and token and makes the password unusable until reset by email.

Staff accounts never use these flows (A14): their only way to a factor is the
back-office's audited enrolment window.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..adapters.sms import SmsDeliveryError, sms_send
from ..errors import Refused
from ..models import AccountFreeze, ApiToken, AuthEvent, BackupCodeDevice, ContactProof, User, secret_digest
from ..request_meta import RequestMeta
from ..tokens import signed_payload_make, signed_payload_read
from .auth_events import auth_event_record
from .holds import wallet_lock
from .notifications import notification_enqueue, notification_link_builder_register
from .second_factor import totp_device_confirm, totp_device_start, user_has_second_factor
from .sessions import credentials_revoke

SMS_CODE_LIFETIME = timedelta(minutes=10)
EMAIL_LINK_LIFETIME = timedelta(minutes=30)
SEND_WINDOW = timedelta(minutes=15)
SEND_LIMIT = 3
NOT_ME_LINK_MAX_AGE_SECONDS = 7 * 24 * 60 * 60
_SMS_DIGEST_PURPOSE = "contact-proof-sms"
EMAIL_LINK_SALT = "anzenpay.contact-proof"
NOT_ME_SALT = "anzenpay.first-factor-not-me"
SESSION_PROOF = "_anzen_contact_proof"

VIA_SIGNUP = "signup"
VIA_SMS = ContactProof.Channel.SMS.value
VIA_EMAIL = ContactProof.Channel.EMAIL.value


class FirstFactorRefused(Refused):
    """A first factor may not be enrolled now; ``code`` says why, ``message`` is for people."""

    class Code(StrEnum):
        FROZEN = "frozen"
        NO_VERIFIED_PHONE = "no_verified_phone"
        PROOF_REQUIRED = "proof_required"
        SMS_FAILED = "sms_failed"
        STAFF = "staff"
        TOO_MANY = "too_many"


@dataclass(frozen=True)
class ContactProven:
    """A proof held by a session or an API token: when, and by which route."""

    at: datetime
    via: str

    def is_fresh(self) -> bool:
        return timezone.now() - self.at <= settings.FIRST_FACTOR_PROOF_MAX_AGE


# --- What stops a first factor ------------------------------------------------------

# Apps above the wallet (the back-office's open fraud cases) add their own reasons.
FirstFactorBlocker = Callable[[User], str | None]
_BLOCKERS: list[FirstFactorBlocker] = []


def first_factor_blocker_register(check: FirstFactorBlocker) -> None:
    if check not in _BLOCKERS:
        _BLOCKERS.append(check)


def first_factor_blocked_reason(user: User) -> str | None:
    """Why ``user`` may not add a first factor now, or None."""
    if AccountFreeze.objects.active().filter(user=user).exists():
        return _("Your wallet is frozen, so a second factor cannot be added now. Contact AnzenPay support.")
    for check in _BLOCKERS:
        reason = check(user)
        if reason:
            return reason
    return None


def _refuse(*, user: User, meta: RequestMeta, code: FirstFactorRefused.Code, message: str) -> FirstFactorRefused:
    auth_event_record(kind=AuthEvent.Kind.FACTOR_ENROLMENT_REFUSED, meta=meta, user=user, detail={"reason": code})
    return FirstFactorRefused(code, message)


def _staff_refusal(user: User, meta: RequestMeta) -> FirstFactorRefused:
    return _refuse(
        user=user,
        meta=meta,
        code=FirstFactorRefused.Code.STAFF,
        message=_("Staff accounts set up their authenticator only through the staff enrolment link an administrator sends."),
    )


def first_factor_enrolment_check(*, user: User, proof: ContactProven | None, meta: RequestMeta) -> None:
    """Raise ``FirstFactorRefused`` unless ``user`` may enrol a first factor with ``proof`` now.
    For an account that already has a factor the caller asks for a step-up instead."""
    if user.is_staff:
        raise _staff_refusal(user, meta)
    if user_has_second_factor(user):
        return
    blocked = first_factor_blocked_reason(user)
    if blocked:
        raise _refuse(user=user, meta=meta, code=FirstFactorRefused.Code.FROZEN, message=blocked)
    if proof is None or not proof.is_fresh():
        raise FirstFactorRefused(
            FirstFactorRefused.Code.PROOF_REQUIRED,
            _("Before you set up an authenticator, confirm it is you with a code sent to your phone or a link sent to your email."),
        )


# --- Proof by SMS code to the verified phone ------------------------------------------


def _send_limit_check(user: User, channel: str, now: datetime) -> None:
    recent = ContactProof.objects.filter(user=user, channel=channel, created_at__gte=now - SEND_WINDOW).count()
    if recent >= SEND_LIMIT:
        raise FirstFactorRefused(FirstFactorRefused.Code.TOO_MANY, _("Too many codes or links were sent. Wait 15 minutes, then ask again."))


def contact_proof_sms_send(*, user: User, meta: RequestMeta) -> ContactProof:
    """Send a six-digit code to the phone on record (never a number the requester types)."""
    if user.is_staff:
        raise _staff_refusal(user, meta)
    now = timezone.now()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.phone or locked.phone_verified_at is None:
            raise FirstFactorRefused(
                FirstFactorRefused.Code.NO_VERIFIED_PHONE, _("Your account has no verified phone number. Use the email link instead.")
            )
        _send_limit_check(locked, VIA_SMS, now)
        ContactProof.objects.filter(user=locked, channel=VIA_SMS, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
        code = f"{secrets.randbelow(10**6):06d}"
        proof = ContactProof.objects.create(
            user=locked,
            channel=VIA_SMS,
            secret_digest=secret_digest(code, purpose=_SMS_DIGEST_PURPOSE),
            created_at=now,
            expires_at=now + SMS_CODE_LIFETIME,
        )
        body = _(
            "AnzenPay code to confirm it is you: %(code)s (valid 10 minutes). Never share it; AnzenPay staff will never ask for it."
        ) % {"code": code}
        try:
            # Inside the transaction on purpose: a refused SMS leaves no proof row behind.
            sms_send(to=locked.phone, body=body)
        except SmsDeliveryError as exc:
            raise FirstFactorRefused(
                FirstFactorRefused.Code.SMS_FAILED, _("We could not send an SMS to your phone. Try again in a few minutes.")
            ) from exc
    return proof


def contact_proof_sms_verify(*, user: User, code: str, meta: RequestMeta) -> ContactProven | None:
    """The latest SMS code, once; a wrong guess counts an attempt (five per code)."""
    code = "".join((code or "").split())
    with transaction.atomic():
        proof = ContactProof.objects.select_for_update().filter(user=user, channel=VIA_SMS).order_by("-created_at", "-pk").first()
        if proof is None or not proof.is_usable:
            auth_event_record(kind=AuthEvent.Kind.CONTACT_PROOF_FAILED, meta=meta, user=user, detail={"channel": VIA_SMS})
            return None
        digest = secret_digest(code, purpose=_SMS_DIGEST_PURPOSE)
        if not (code.isdigit() and len(code) == 6 and hmac.compare_digest(digest, proof.secret_digest)):
            proof.attempts += 1
            proof.save(update_fields=["attempts"])
            auth_event_record(kind=AuthEvent.Kind.CONTACT_PROOF_FAILED, meta=meta, user=user, detail={"channel": VIA_SMS})
            return None
        proof.used_at = timezone.now()
        proof.save(update_fields=["used_at"])
        auth_event_record(kind=AuthEvent.Kind.CONTACT_PROVEN, meta=meta, user=user, detail={"channel": VIA_SMS})
    return ContactProven(at=proof.used_at, via=VIA_SMS)


# --- Proof by a link to the verified email --------------------------------------------


def _email_link(user: User, context: dict[str, object]) -> dict[str, str]:
    # Minted at render time: the outbox row holds only the proof's id (L02).
    token = signed_payload_make({"uid": user.pk, "pid": context["proof"]}, salt=EMAIL_LINK_SALT)
    return {"link": settings.SITE_URL + reverse("wallet:contact_proof_link", args=[token])}


def contact_proof_email_send(*, user: User, meta: RequestMeta) -> ContactProof:
    """Mail a single-use link to the address on record. It proves the contact for the
    browser that opens it, logged in as the account: never for the session that asked."""
    if user.is_staff:
        raise _staff_refusal(user, meta)
    now = timezone.now()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        _send_limit_check(locked, VIA_EMAIL, now)
        ContactProof.objects.filter(user=locked, channel=VIA_EMAIL, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
        proof = ContactProof.objects.create(
            user=locked, channel=VIA_EMAIL, secret_digest="", created_at=now, expires_at=now + EMAIL_LINK_LIFETIME
        )
        notification_enqueue(user=locked, kind="contact_proof_link", context={"proof": proof.pk, "ip": meta.ip or ""})
    return proof


def contact_proof_email_read(token: str) -> ContactProof | None:
    data = signed_payload_read(token or "", salt=EMAIL_LINK_SALT, max_age_seconds=int(EMAIL_LINK_LIFETIME.total_seconds()))
    uid, pid = (data or {}).get("uid"), (data or {}).get("pid")
    if not isinstance(uid, int) or not isinstance(pid, int):
        return None
    proof = ContactProof.objects.select_related("user").filter(pk=pid, user_id=uid, channel=VIA_EMAIL).first()
    return proof if proof is not None and proof.is_usable else None


def contact_proof_email_use(*, proof: ContactProof, user: User, meta: RequestMeta) -> ContactProven | None:
    """Use the link for the logged-in ``user``; a link for another account proves nothing."""
    with transaction.atomic():
        locked = ContactProof.objects.select_for_update().filter(pk=proof.pk, user=user, channel=VIA_EMAIL).first()
        if locked is None or not locked.is_usable:
            auth_event_record(kind=AuthEvent.Kind.CONTACT_PROOF_FAILED, meta=meta, user=user, detail={"channel": VIA_EMAIL})
            return None
        locked.used_at = timezone.now()
        locked.save(update_fields=["used_at"])
        auth_event_record(kind=AuthEvent.Kind.CONTACT_PROVEN, meta=meta, user=user, detail={"channel": VIA_EMAIL})
    return ContactProven(at=locked.used_at, via=VIA_EMAIL)


# --- Where a proof is held --------------------------------------------------------------


def session_contact_proof_mark(request: HttpRequest, *, user: User, proven: ContactProven) -> None:
    request.session[SESSION_PROOF] = {"uid": user.pk, "at": proven.at.isoformat(), "via": proven.via}


def session_contact_proof(request: HttpRequest, user: User) -> ContactProven | None:
    raw = request.session.get(SESSION_PROOF)
    if not isinstance(raw, dict) or raw.get("uid") != user.pk:
        return None
    try:
        proven = ContactProven(at=datetime.fromisoformat(str(raw.get("at"))), via=str(raw.get("via")))
    except ValueError:
        return None
    return proven if proven.is_fresh() else None


def session_contact_proof_clear(request: HttpRequest) -> None:
    request.session.pop(SESSION_PROOF, None)


def token_contact_proof_mark(*, token: ApiToken, proven: ContactProven) -> None:
    ApiToken.objects.filter(pk=token.pk).update(contact_proven_at=proven.at)
    token.contact_proven_at = proven.at


def token_contact_proof(token: ApiToken) -> ContactProven | None:
    if token.contact_proven_at is None:
        return None
    proven = ContactProven(at=token.contact_proven_at, via=VIA_SMS)
    return proven if proven.is_fresh() else None


# --- Enrolment ------------------------------------------------------------------------


def customer_totp_enrolment_start(*, user: User, proof: ContactProven | None, meta: RequestMeta) -> TOTPDevice:
    first_factor_enrolment_check(user=user, proof=proof, meta=meta)
    return totp_device_start(user=user)


def customer_totp_enrolment_confirm(
    *, user: User, device_id: int, code: str, proof: ContactProven | None, meta: RequestMeta
) -> TOTPDevice | None:
    """Confirm a customer's authenticator. A first one needs ``proof`` (checked again
    here, under the user's row lock); one that is not the sign-up's starts the cooling-off."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        first = not user_has_second_factor(locked)
        first_factor_enrolment_check(user=locked, proof=proof, meta=meta)
        device = totp_device_confirm(user=locked, device_id=device_id, code=code, meta=meta)
        if device is None:
            return None
        if first and (proof is None or proof.via != VIA_SIGNUP):
            _cooling_off_start(user=locked, device=device, meta=meta)
            user.factor_cooling_off_until = locked.factor_cooling_off_until
    return device


def _not_me_link(user: User, context: dict[str, object]) -> dict[str, str]:
    token = signed_payload_make({"uid": user.pk, "dev": context["device"]}, salt=NOT_ME_SALT)
    return {"not_me_link": settings.SITE_URL + reverse("wallet:first_factor_not_me", args=[token])}


def _cooling_off_start(*, user: User, device: TOTPDevice, meta: RequestMeta) -> None:
    until = timezone.now() + settings.FIRST_FACTOR_COOLING_OFF
    user.factor_cooling_off_until = until
    user.save(update_fields=["factor_cooling_off_until"])
    when = timezone.localtime(until).strftime("%Y-%m-%d %H:%M")
    context = {"device": device.pk, "until": when, "cap": f"{settings.FIRST_FACTOR_COOLING_OFF_CAP_YEN:,}", "ip": meta.ip or ""}
    notification_enqueue(user=user, kind="first_factor_added", context=context)
    if user.phone and user.phone_verified_at is not None:
        phone = user.phone
        body = _(
            "AnzenPay: an authenticator was added to your account. Not you? Open the link in the email we just sent to lock your wallet."
        )
        transaction.on_commit(lambda: _sms_quietly(phone, body))


def _sms_quietly(phone: str, body: str) -> None:
    # A notice, not a code: the email carries the same message and the link.
    with contextlib.suppress(SmsDeliveryError):
        sms_send(to=phone, body=body)


def cooling_off_active(user: User) -> bool:
    return bool(user.factor_cooling_off_until and user.factor_cooling_off_until > timezone.now())


# --- "This was not me" ----------------------------------------------------------------


@dataclass(frozen=True)
class NotMeClaim:
    user: User
    device_pk: int


def not_me_read(token: str) -> NotMeClaim | None:
    """Deliberately not tied to the credentials: an attacker changing the password must not kill the owner's link."""
    data = signed_payload_read(token or "", salt=NOT_ME_SALT, max_age_seconds=NOT_ME_LINK_MAX_AGE_SECONDS)
    uid, device_pk = (data or {}).get("uid"), (data or {}).get("dev")
    if not isinstance(uid, int) or not isinstance(device_pk, int):
        return None
    user = User.objects.filter(pk=uid, is_staff=False).first()
    return NotMeClaim(user=user, device_pk=device_pk) if user is not None else None


def not_me_report(*, claim: NotMeClaim, meta: RequestMeta) -> None:
    """Lock the wallet, remove every second factor (the account had none before the one
    reported), end every session and token, and make the password unusable so only a
    reset through the email on record lets anyone in again. Safe to run twice."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=claim.user.pk)
        wallet_lock(user=user, reason=_("The owner reported a new authenticator as not theirs."))
        removed = TOTPDevice.objects.filter(user=user).delete()[0] + BackupCodeDevice.objects.filter(user=user).delete()[0]
        user.set_unusable_password()
        user.must_reset_password = True
        user.factor_cooling_off_until = None
        user.save(update_fields=["password", "must_reset_password", "factor_cooling_off_until"])
        credentials_revoke(user=user)
        auth_event_record(
            kind=AuthEvent.Kind.NOT_ME_REPORTED, meta=meta, user=user, detail={"device": claim.device_pk, "factors_removed": removed}
        )
        notification_enqueue(user=user, kind="first_factor_not_me_done")


notification_link_builder_register("contact_proof_link", _email_link)
notification_link_builder_register("first_factor_added", _not_me_link)
