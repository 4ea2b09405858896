"""Customer app authentication: password, then a second factor, then a bearer token.

Flow (A05, A12, S01/S04 for tokens):

1. ``api_login_start``: the password step (``password_login_check``: channel switch,
   django-axes, account status). With a confirmed second factor the answer is a
   signed challenge valid 5 minutes; without one, a token limited to ``/me`` and
   factor enrolment (``second_factor_at`` empty).
2. ``api_login_verify``: challenge and code → a full token.
3. ``api_step_up``: a fresh code stamps ``step_up_at`` on the token in use.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..errors import Refused
from ..field_length import fit
from ..models import ApiToken, AuthEvent, KnownDevice, User
from ..request_meta import RequestMeta
from ..tokens import signed_payload_make, signed_payload_read
from .api_tokens import api_token_issue
from .auth_events import auth_event_record
from .code_throttle import CodeSource, code_check_allowed
from .first_factor import (
    contact_proof_sms_send,
    contact_proof_sms_verify,
    customer_totp_enrolment_confirm,
    customer_totp_enrolment_start,
    token_contact_proof,
    token_contact_proof_mark,
)
from .login import LoginRefused, device_login_record, login_risk_check, password_login_check, user_can_log_in
from .notifications import notification_enqueue
from .risk import risk_record
from .second_factor import second_factor_verify, user_has_second_factor
from .sessions import sessions_end

CHALLENGE_SALT = "anzenpay.api-login-challenge"
CHALLENGE_MAX_AGE_SECONDS = 5 * 60
SECOND_FACTOR_METHODS = ["totp", "backup_code"]


class ApiAuthError(Refused):
    """A refused step. ``code`` is machine-readable, ``message`` is for people."""

    class Code(StrEnum):
        CHALLENGE_INVALID = "challenge_invalid"
        INVALID_CODE = "invalid_code"
        INVALID_CREDENTIALS = "invalid_credentials"
        NO_ENROLMENT = "no_enrolment"
        NOT_NEEDED = "not_needed"
        THROTTLED = "throttled"

    status: int

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(code, message, status=status)


@dataclass(frozen=True)
class LoginStarted:
    user: User
    challenge: str | None = None
    token: ApiToken | None = None
    key: str | None = None
    # Assigned by the server when the app named no device (A18); the app keeps and sends it from now on.
    device_id: str | None = None


def _label(meta: RequestMeta) -> str:
    return fit(ApiToken, "label", meta.user_agent or "app")


def api_device_id(device_id: str | None) -> tuple[str, bool]:
    """The app's device id, or a new one when it named none (A18: a login that names no
    device is a login from a new device). The flag says whether it was assigned here."""
    if device_id and len(device_id) >= 32:
        return device_id, False
    return secrets.token_urlsafe(32), True


def api_login_start(*, request: HttpRequest, email: str, password: str, device_id: str | None) -> LoginStarted:
    """The password step. Raises ``LoginRefused`` (from ``password_login_check``).

    A16: the app's own known device is exempt from the password lockout, as a known
    browser is: django-axes asks ``wallet.lockout.is_trusted_for_username``, which reads
    the id named here."""
    meta = RequestMeta.from_request(request, channel="api")
    device_id, assigned = api_device_id(device_id)
    request.anzen_app_device_id = device_id  # type: ignore[attr-defined]
    user = password_login_check(request=request, email=email, password=password)
    if user_has_second_factor(user):
        payload: dict[str, object] = {"uid": user.pk, "cc": user.credentials_changed_at.isoformat(), "dev": device_id}
        challenge = signed_payload_make(payload, salt=CHALLENGE_SALT)
        return LoginStarted(user=user, challenge=challenge, device_id=device_id if assigned else None)
    with transaction.atomic():
        token, key = api_token_issue(user=user, label=_label(meta), second_factor=False)
        # A limited token makes no known device, but the owner hears of the password login (A13, A18).
        notification_enqueue(user=user, kind="new_device_login", context=meta.sign_in_notice_context())
        auth_event_record(kind=AuthEvent.Kind.LOGIN_SUCCEEDED, meta=meta, user=user, detail={"second_factor": False, "token": token.pk})
    return LoginStarted(user=user, token=token, key=key)


def _challenge_user(challenge: str) -> tuple[User, str | None]:
    data = signed_payload_read(challenge or "", salt=CHALLENGE_SALT, max_age_seconds=CHALLENGE_MAX_AGE_SECONDS)
    expired = ApiAuthError(ApiAuthError.Code.CHALLENGE_INVALID, _("This sign-in has expired. Start again with your email and password."))
    if data is None:
        raise expired
    uid = data.get("uid")
    user = User.objects.filter(pk=uid).first() if isinstance(uid, int) else None
    if user is None or not user_can_log_in(user) or user.credentials_changed_at.isoformat() != data.get("cc"):
        raise expired
    device_id = data.get("dev")
    return user, device_id if isinstance(device_id, str) and device_id else None


def api_login_verify(*, challenge: str, code: str, meta: RequestMeta) -> tuple[ApiToken, str]:
    """Second step: the code (TOTP or backup, each usable once, A06) → a full token."""
    user, named_device = _challenge_user(challenge)
    # A challenge always names a device since A18; one minted before that is a new device too.
    device_id = named_device or secrets.token_urlsafe(32)
    source = CodeSource.of(meta, device_id)
    if second_factor_verify(user=user, code=code, meta=meta, purpose="api_login", source=source) is None:
        if not code_check_allowed(user=user, source=source):
            raise ApiAuthError(
                ApiAuthError.Code.THROTTLED,
                _("Too many wrong codes from here. Wait 15 minutes, or sign in on a device you have used before."),
                429,
            )
        raise ApiAuthError(ApiAuthError.Code.INVALID_CODE, _("The code is not valid. Wait for a new code and try again."))
    try:
        decision = login_risk_check(user=user, device_id=device_id, meta=meta)
    except LoginRefused as refusal:
        raise ApiAuthError(ApiAuthError.Code.INVALID_CREDENTIALS, refusal.message, status=401) from None
    with transaction.atomic():
        transaction.on_commit(partial(risk_record, decision=decision))
        device, _is_new = device_login_record(user=user, device_id=device_id, meta=meta)
        token, key = api_token_issue(user=user, label=_label(meta), second_factor=True, device=device)
        auth_event_record(kind=AuthEvent.Kind.LOGIN_SUCCEEDED, meta=meta, user=user, detail={"second_factor": True, "token": token.pk})
    return token, key


def api_step_up(*, user: User, token: ApiToken, code: str, meta: RequestMeta) -> ApiToken:
    """S04: a fresh code for this token before a sensitive change."""
    known = token.device_id is not None and KnownDevice.objects.filter(pk=token.device_id, revoked_at__isnull=True).exists()
    source = CodeSource(ip=meta.ip, known_device=known)
    if second_factor_verify(user=user, code=code, meta=meta, purpose="step_up", source=source) is None:
        if not code_check_allowed(user=user, source=source):
            raise ApiAuthError(ApiAuthError.Code.THROTTLED, _("Too many wrong codes from here. Wait 15 minutes and try again."), 429)
        raise ApiAuthError(ApiAuthError.Code.INVALID_CODE, _("The code is not valid. Wait for a new code and try again."), status=400)
    now = timezone.now()
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(step_up_at=now)
        auth_event_record(kind=AuthEvent.Kind.STEP_UP, meta=meta, user=user, detail={"token": token.pk})
    token.step_up_at = now
    return token


def api_token_revoke(*, user: User, token_id: int, meta: RequestMeta) -> bool:
    """Delete one of the user's own tokens. Another user's token is "not found" (B08)."""
    with transaction.atomic():
        deleted, _rows = ApiToken.objects.filter(pk=token_id, user=user).delete()
        if deleted:
            auth_event_record(kind=AuthEvent.Kind.LOGOUT, meta=meta, user=user, detail={"token": token_id})
    return bool(deleted)


def api_totp_enrolment_start(*, user: User, token: ApiToken, meta: RequestMeta) -> TOTPDevice:
    """A13/A14: a first authenticator needs this token to have proven the phone on record;
    staff accounts are refused. Raises ``FirstFactorRefused``."""
    return customer_totp_enrolment_start(user=user, proof=token_contact_proof(token), meta=meta)


def api_totp_enrolment_confirm(*, user: User, token: ApiToken, code: str, meta: RequestMeta) -> TOTPDevice:
    """Confirm the device started by ``api_totp_enrolment_start``; the token in use
    becomes a full one, since the user has just proved the factor with it."""
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if pending is None:
        raise ApiAuthError(ApiAuthError.Code.NO_ENROLMENT, _("There is no enrolment in progress. Start one first."), 409)
    with transaction.atomic():
        device = customer_totp_enrolment_confirm(user=user, device_id=pending.pk, code=code, proof=token_contact_proof(token), meta=meta)
        if device is None:
            raise ApiAuthError(
                ApiAuthError.Code.INVALID_CODE, _("The code is not valid. Check the time on your phone and enter the newest code."), 400
            )
        now = timezone.now()
        ApiToken.objects.filter(pk=token.pk).update(second_factor_at=now, step_up_at=now, contact_proven_at=None)
        token.second_factor_at = token.step_up_at = now
        token.contact_proven_at = None
        # S02: a factor change ends every other way in; this token has just proved the new factor.
        ApiToken.objects.filter(user=user).exclude(pk=token.pk).delete()
        sessions_end(user=user)
    return device


def api_contact_proof_send(*, user: User, meta: RequestMeta) -> None:
    """A13: a code by SMS to the verified phone on record. Raises ``FirstFactorRefused``."""
    if user_has_second_factor(user):
        raise ApiAuthError(ApiAuthError.Code.NOT_NEEDED, _("Your account already has a second factor. Use /auth/step-up/ instead."), 409)
    contact_proof_sms_send(user=user, meta=meta)


def api_contact_proof_verify(*, user: User, token: ApiToken, code: str, meta: RequestMeta) -> None:
    proven = contact_proof_sms_verify(user=user, code=code, meta=meta)
    if proven is None:
        raise ApiAuthError(
            ApiAuthError.Code.INVALID_CODE, _("That code is not right, or it has expired or been used. Ask for a new code."), 400
        )
    token_contact_proof_mark(token=token, proven=proven)
