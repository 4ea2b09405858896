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

from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..api.authentication import api_token_issue
from ..models import ApiToken, AuthEvent, KnownDevice, User
from ..request_meta import RequestMeta
from ..tokens import signed_payload_make, signed_payload_read
from .auth_events import auth_event_record
from .login import LoginRefused, device_login_record, login_risk_check, password_login_check, user_can_log_in
from .risk import risk_record
from .second_factor import second_factor_verify, totp_enrolment_confirm, totp_enrolment_start, user_has_second_factor
from .sessions import sessions_end

CHALLENGE_SALT = "anzenpay.api-login-challenge"
CHALLENGE_MAX_AGE_SECONDS = 5 * 60
SECOND_FACTOR_METHODS = ["totp", "backup_code"]


class ApiAuthError(Exception):
    """A refused step. ``code`` is machine-readable, ``message`` is for people."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class LoginStarted:
    user: User
    challenge: str | None = None
    token: ApiToken | None = None
    key: str | None = None


def _label(meta: RequestMeta) -> str:
    return (meta.user_agent or "app")[:100]


def api_login_start(*, request: HttpRequest, email: str, password: str, device_id: str | None) -> LoginStarted:
    """The password step. Raises ``LoginRefused`` (from ``password_login_check``)."""
    meta = RequestMeta.from_request(request, channel="api")
    user = password_login_check(request=request, email=email, password=password)
    if user_has_second_factor(user):
        payload: dict[str, object] = {"uid": user.pk, "cc": user.credentials_changed_at.isoformat()}
        if device_id:
            payload["dev"] = device_id
        return LoginStarted(user=user, challenge=signed_payload_make(payload, salt=CHALLENGE_SALT))
    with transaction.atomic():
        token, key = api_token_issue(user=user, label=_label(meta), second_factor=False)
        auth_event_record(kind=AuthEvent.Kind.LOGIN_SUCCEEDED, meta=meta, user=user, detail={"second_factor": False, "token": token.pk})
    return LoginStarted(user=user, token=token, key=key)


def _challenge_user(challenge: str) -> tuple[User, str | None]:
    data = signed_payload_read(challenge or "", salt=CHALLENGE_SALT, max_age_seconds=CHALLENGE_MAX_AGE_SECONDS)
    expired = ApiAuthError("challenge_invalid", _("This sign-in has expired. Start again with your email and password."))
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
    user, device_id = _challenge_user(challenge)
    if second_factor_verify(user=user, code=code, meta=meta, purpose="api_login") is None:
        raise ApiAuthError("invalid_code", _("The code is not valid. Wait for a new code and try again."))
    try:
        decision = login_risk_check(user=user, device_id=device_id or "", meta=meta)
    except LoginRefused as refusal:
        raise ApiAuthError("invalid_credentials", refusal.message, status=401) from None
    device: KnownDevice | None = None
    with transaction.atomic():
        transaction.on_commit(partial(risk_record, decision=decision))
        if device_id:
            device, _is_new = device_login_record(user=user, device_id=device_id, meta=meta)
        token, key = api_token_issue(user=user, label=_label(meta), second_factor=True, device=device)
        auth_event_record(kind=AuthEvent.Kind.LOGIN_SUCCEEDED, meta=meta, user=user, detail={"second_factor": True, "token": token.pk})
    return token, key


def api_step_up(*, user: User, token: ApiToken, code: str, meta: RequestMeta) -> ApiToken:
    """S04: a fresh code for this token before a sensitive change."""
    if second_factor_verify(user=user, code=code, meta=meta, purpose="step_up") is None:
        raise ApiAuthError("invalid_code", _("The code is not valid. Wait for a new code and try again."), status=400)
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


def api_totp_enrolment_start(*, user: User) -> TOTPDevice:
    return totp_enrolment_start(user=user)


def api_totp_enrolment_confirm(*, user: User, token: ApiToken, code: str, meta: RequestMeta) -> TOTPDevice:
    """Confirm the device started by ``api_totp_enrolment_start``; the token in use
    becomes a full one, since the user has just proved the factor with it."""
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if pending is None:
        raise ApiAuthError("no_enrolment", _("There is no enrolment in progress. Start one first."), 409)
    with transaction.atomic():
        device = totp_enrolment_confirm(user=user, device_id=pending.pk, code=code, meta=meta)
        if device is None:
            raise ApiAuthError("invalid_code", _("The code is not valid. Check the time on your phone and enter the newest code."), 400)
        now = timezone.now()
        ApiToken.objects.filter(pk=token.pk).update(second_factor_at=now, step_up_at=now)
        token.second_factor_at = token.step_up_at = now
        # S02: a factor change ends every other way in; this token has just proved the new factor.
        ApiToken.objects.filter(user=user).exclude(pk=token.pk).delete()
        sessions_end(user=user)
    return device
