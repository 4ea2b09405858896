"""Proving control of a phone number with a six-digit SMS code (sign-up and phone change).

A code comes from ``secrets``, is stored only as a keyed digest, expires after
``CODE_LIFETIME``, allows ``PhoneVerification.MAX_ATTEMPTS`` guesses and works once:
the row is locked while it is checked, so two parallel submits succeed once (A06).
SMS is never a login factor here (A09); it proves the number on record.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..adapters.sms import SmsDeliveryError, sms_send
from ..models import AuthEvent, PhoneVerification, User, secret_digest
from ..request_meta import RequestMeta
from .auth_events import auth_event_record
from .notifications import notification_enqueue

CODE_LIFETIME = timedelta(minutes=10)
RESEND_WINDOW = timedelta(minutes=15)
RESEND_LIMIT = 3
_DIGEST_PURPOSE = "phone-verification"


class PhoneCodeError(Exception):
    """A code could not be sent or accepted; ``message`` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def phone_normalise(raw: str) -> str:
    """A Japanese mobile number in national (090-1234-5678) or international (+81…)
    form, returned as E.164. Raises ``ValidationError`` with a clear message."""
    value = (raw or "").strip()
    if not value or len(value) > 32:
        raise ValidationError(gettext_lazy("Enter your mobile phone number, for example 090-1234-5678."), code="required")
    try:
        number = phonenumbers.parse(value, "JP")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(gettext_lazy("Enter a phone number such as 090-1234-5678 or +81 90 1234 5678."), code="invalid") from exc
    if number.country_code != 81 or not phonenumbers.is_valid_number(number):
        raise ValidationError(gettext_lazy("Enter a valid Japanese mobile phone number, for example 090-1234-5678."), code="invalid")
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        raise ValidationError(
            gettext_lazy("This looks like a landline. Enter a mobile number that can receive SMS (070, 080 or 090)."), code="not_mobile"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_display(e164: str) -> str:
    """+819012345678 → 090-1234-5678 for pages (the stored value stays E.164)."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, "JP"), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def _new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def phone_code_send(*, user: User, phone: str, purpose: str, meta: RequestMeta) -> PhoneVerification:
    """Send a fresh code to ``phone`` (E.164) and retire any earlier unused one.

    At sign-up, ``phone`` may correct the number typed earlier (only while it is
    unverified). If the SMS provider refuses, nothing is kept and
    ``PhoneCodeError`` explains; at most ``RESEND_LIMIT`` codes per
    ``RESEND_WINDOW`` and purpose.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        recent = PhoneVerification.objects.filter(user=locked, purpose=purpose, created_at__gte=now - RESEND_WINDOW).count()
        if recent >= RESEND_LIMIT:
            raise PhoneCodeError(_("Too many codes were sent. Wait 15 minutes, then ask for a new one."))
        if purpose == PhoneVerification.Purpose.SIGNUP:
            if locked.phone_verified_at is not None:
                raise PhoneCodeError(_("Your phone number is already verified."))
            if locked.phone != phone:
                locked.phone = phone
                locked.save(update_fields=["phone"])
                user.phone = phone
        PhoneVerification.objects.filter(user=locked, purpose=purpose, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
        code = _new_code()
        verification = PhoneVerification.objects.create(
            user=locked,
            phone=phone,
            purpose=purpose,
            code_digest=secret_digest(code, purpose=_DIGEST_PURPOSE),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
        body = _("AnzenPay code: %(code)s (valid 10 minutes). Never share it; AnzenPay staff will never ask for it.") % {"code": code}
        try:
            # Sent inside the transaction on purpose: if the provider refuses, the
            # row is rolled back and the page says so, instead of a code that never arrives.
            sms_send(to=phone, body=body)
        except SmsDeliveryError as exc:
            raise PhoneCodeError(
                _("We could not send an SMS to %(phone)s. Check the number and try again in a few minutes.")
                % {"phone": phone_display(phone)}
            ) from exc
    return verification


def phone_code_verify(*, user: User, code: str, purpose: str, meta: RequestMeta) -> bool:
    """Check ``code`` against the latest code of ``purpose``. On success the number
    is recorded as verified (sign-up) or becomes the number on record (phone
    change, notifying the email on record). A wrong guess counts an attempt."""
    code = "".join((code or "").split())
    with transaction.atomic():
        # Lock order as in phone_code_send: the user, then the code.
        locked = User.objects.select_for_update().get(pk=user.pk)
        verification = (
            PhoneVerification.objects.select_for_update().filter(user=locked, purpose=purpose).order_by("-created_at", "-pk").first()
        )
        if verification is None or not verification.is_usable:
            return False
        digest = secret_digest(code, purpose=_DIGEST_PURPOSE)
        if not (code.isdigit() and len(code) == 6 and hmac.compare_digest(digest, verification.code_digest)):
            verification.attempts += 1
            verification.save(update_fields=["attempts"])
            return False
        now = timezone.now()
        verification.used_at = now
        verification.save(update_fields=["used_at"])
        old_phone = locked.phone
        locked.phone = verification.phone
        locked.phone_verified_at = now
        locked.save(update_fields=["phone", "phone_verified_at"])
        user.phone, user.phone_verified_at = locked.phone, locked.phone_verified_at
        if purpose == PhoneVerification.Purpose.PHONE_CHANGE:
            auth_event_record(kind=AuthEvent.Kind.PHONE_CHANGED, meta=meta, user=locked)
            notification_enqueue(
                user=locked, kind="phone_changed", context={"old_phone": phone_display(old_phone), "new_phone": phone_display(locked.phone)}
            )
        else:
            auth_event_record(kind=AuthEvent.Kind.PHONE_VERIFIED, meta=meta, user=locked)
    return True


def phone_code_usable(*, user: User, purpose: str) -> PhoneVerification | None:
    """The pending code of ``purpose``, if one can still be used (for the page to say where it went)."""
    latest = PhoneVerification.objects.filter(user=user, purpose=purpose).order_by("-created_at", "-pk").first()
    return latest if latest is not None and latest.is_usable else None
