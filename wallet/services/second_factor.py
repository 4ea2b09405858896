"""Second factors through django-otp: TOTP and hashed backup codes (A05–A10)."""

from __future__ import annotations

import secrets
from enum import StrEnum

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..errors import Refused
from ..models import AuthEvent, BackupCode, BackupCodeDevice, User, UserSession, secret_digest
from ..request_meta import RequestMeta
from .auth_events import auth_event_record
from .code_throttle import CodeSource, code_check_allowed, code_failure_record
from .notifications import notification_enqueue
from .sessions import credentials_revoke

SESSION_STEP_UP_AT = "_anzen_step_up_at"
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def confirmed_devices(user: User) -> list[Device]:
    devices: list[Device] = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    devices += list(BackupCodeDevice.objects.filter(user=user, confirmed=True))
    return devices


def user_has_second_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_verify(
    *, user: User, code: str, meta: RequestMeta, purpose: str = "login", source: CodeSource | None = None
) -> Device | None:
    """Check ``code`` against the user's confirmed TOTP devices, then backup codes.

    Each device row is locked while it is checked, so the same code sent twice in
    parallel passes once (A06, T10): django-otp records the used time step on the
    TOTP device, and a backup code is marked used under its row lock.

    Wrong codes are counted per ``source`` (address, device, A15), never against the
    authenticator itself: while a source is throttled its codes are not checked at
    all, and the owner's own known device is never throttled.
    """
    code = "".join((code or "").split())
    if not code or len(code) > 32:
        return None
    source = source or CodeSource.of(meta)
    if not code_check_allowed(user=user, source=source):
        auth_event_record(kind=AuthEvent.Kind.SECOND_FACTOR_FAILED, meta=meta, user=user, detail={"purpose": purpose, "throttled": True})
        return None
    with transaction.atomic():
        for totp in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"):
            if totp.verify_token(code):
                auth_event_record(
                    kind=AuthEvent.Kind.SECOND_FACTOR_SUCCEEDED, meta=meta, user=user, detail={"device": "totp", "purpose": purpose}
                )
                return totp
        for backup in BackupCodeDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if backup.verify_token(code):
                auth_event_record(
                    kind=AuthEvent.Kind.SECOND_FACTOR_SUCCEEDED,
                    meta=meta,
                    user=user,
                    detail={"device": "backup", "purpose": purpose, "remaining": backup.remaining},
                )
                return backup
    code_failure_record(user=user, source=source)
    auth_event_record(kind=AuthEvent.Kind.SECOND_FACTOR_FAILED, meta=meta, user=user, detail={"purpose": purpose})
    if purpose in LOGIN_PURPOSES:
        _wrong_code_after_password_notify(user=user, meta=meta)
    return None


LOGIN_PURPOSES = frozenset({"login", "api_login"})
_WRONG_CODE_NOTICE_SECONDS = 60 * 60


def _wrong_code_after_password_notify(*, user: User, meta: RequestMeta) -> None:
    """A wrong code after the right password means someone may know the password: tell the
    owner, once an hour at most, so a guessing attacker cannot flood their inbox."""
    if cache.add(f"codes:notice:{user.pk}", 1, _WRONG_CODE_NOTICE_SECONDS):
        notification_enqueue(user=user, kind="login_code_failed", context=meta.sign_in_notice_context())


def totp_device_start(*, user: User) -> TOTPDevice:
    """An unconfirmed device with a fresh secret; it counts only once a first code confirms it.

    No policy here: customers go through ``first_factor.customer_totp_enrolment_start``
    (A13, A14), staff through the back-office's enrolment window."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(
            user=user,
            name="Authenticator app",
            confirmed=False,
            tolerance=settings.OTP_TOTP_TOLERANCE,
        )


def totp_device_confirm(*, user: User, device_id: int, code: str, meta: RequestMeta) -> TOTPDevice | None:
    """Confirm a started device with its first code. The caller has applied its policy."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(pk=device_id, user=user, confirmed=False).first()
        if device is None or not device.verify_token("".join((code or "").split())):
            auth_event_record(kind=AuthEvent.Kind.SECOND_FACTOR_FAILED, meta=meta, user=user, detail={"purpose": "enrol"})
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        auth_event_record(kind=AuthEvent.Kind.FACTOR_ADDED, meta=meta, user=user, detail={"device": "totp"})
        notification_enqueue(user=user, kind="factor_added", context={"factor": "totp"})
    return device


class StaffFactorRefused(Refused):
    """A14: staff accounts never use the customer factor flows."""

    class Code(StrEnum):
        STAFF = "staff"


def backup_codes_generate(*, user: User, meta: RequestMeta) -> list[str]:
    """Replace the user's backup codes with ten new ones and return them, the only
    time they exist in clear (A08). Customers only (A14)."""
    if user.is_staff:
        auth_event_record(kind=AuthEvent.Kind.FACTOR_ENROLMENT_REFUSED, meta=meta, user=user, detail={"device": "backup", "staff": True})
        raise StaffFactorRefused(
            StaffFactorRefused.Code.STAFF,
            _("Staff accounts set up their authenticator only through the staff enrolment link an administrator sends."),
        )
    codes = ["".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10)) for _ in range(BACKUP_CODE_COUNT)]
    with transaction.atomic():
        BackupCodeDevice.objects.filter(user=user).delete()
        device = BackupCodeDevice.objects.create(user=user, name="Backup codes", confirmed=True)
        BackupCode.objects.bulk_create(
            [BackupCode(device=device, code_digest=secret_digest(code, purpose="backup-code")) for code in codes]
        )
        auth_event_record(kind=AuthEvent.Kind.FACTOR_ADDED, meta=meta, user=user, detail={"device": "backup"})
        notification_enqueue(user=user, kind="backup_codes_regenerated")
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def second_factor_remove(*, user: User, device: Device, meta: RequestMeta, keep_session_key: str | None) -> None:
    """A10: the caller has checked a fresh re-authentication. Ends other sessions (S02)."""
    with transaction.atomic():
        kind = "backup" if isinstance(device, BackupCodeDevice) else "totp"
        type(device).objects.filter(pk=device.pk, user=user).delete()
        auth_event_record(kind=AuthEvent.Kind.FACTOR_REMOVED, meta=meta, user=user, detail={"device": kind})
        notification_enqueue(user=user, kind="factor_removed", context={"factor": kind})
        credentials_revoke(user=user, keep_session_key=keep_session_key)


def step_up_mark(request: HttpRequest) -> None:
    """After a fresh second factor: a new session id (S01) and the step-up time (S04).
    The session index follows the new id, so "log out everywhere" still finds it."""
    old_key = request.session.session_key
    request.session.cycle_key()
    new_key = request.session.session_key
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)
    request.session[SESSION_STEP_UP_AT] = timezone.now().isoformat()


def step_up_is_fresh(request: HttpRequest, max_age: object = None) -> bool:
    raw = request.session.get(SESSION_STEP_UP_AT)
    if not raw:
        return False
    from datetime import datetime, timedelta

    limit = max_age if isinstance(max_age, timedelta) else settings.STEP_UP_MAX_AGE
    try:
        marked = datetime.fromisoformat(raw)
    except ValueError:
        return False
    return timezone.now() - marked <= limit
