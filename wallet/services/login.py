"""Customer login: the password step, the device record, the unlock link (A04, A11, A12)."""

from __future__ import annotations

from enum import StrEnum
from functools import partial

from axes.utils import reset as axes_reset
from django.contrib.auth import authenticate, login
from django.contrib.auth.signals import user_login_failed
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..devices import device_digest, device_is_known
from ..errors import Refused
from ..field_length import fit
from ..middleware import session_mark_credentials_current, session_mark_login
from ..models import ApiToken, AuthEvent, KnownDevice, RiskDecision, RiskEvent, RiskOutcome, User, UserSession, normalize_email
from ..request_meta import RequestMeta
from ..switches import ChannelDisabled
from ..tokens import signed_payload_read
from .auth_events import auth_event_record
from .code_throttle import CodeSource
from .first_factor import ContactProven, customer_totp_enrolment_confirm
from .notifications import UNLOCK_SALT, notification_enqueue
from .risk import risk_assess, risk_record
from .second_factor import second_factor_remove, second_factor_verify, step_up_mark
from .sessions import credentials_revoke, sessions_end
from .switches import channel_check

UNLOCK_MAX_AGE_SECONDS = 60 * 60


class LoginRefused(Refused):
    """The password step failed; ``code`` says why."""

    class Code(StrEnum):
        CHANNEL_DISABLED = "channel_disabled"
        INVALID = "invalid"
        LOCKED = "locked"


def login_invalid_message() -> str:
    # A12: one message for unknown email, wrong password, unverified or closed account.
    return _("The email address or password is incorrect.")


def login_locked_message() -> str:
    return _(
        "Too many failed attempts. Wait 15 minutes and try again, or ask for an unlock link "
        "sent to the email address registered on your account."
    )


def login_suspended_message() -> str:
    return _("Logging in is temporarily suspended. Please try again later.")


def user_can_log_in(user: User) -> bool:
    return bool(user.is_active and user.status == User.Status.ACTIVE and user.email_verified_at is not None)


def password_login_check(*, request: HttpRequest, email: str, password: str) -> User:
    """Check email and password for a customer login.

    ``channel_check("login.password")`` first; then Django's ``authenticate`` so
    django-axes counts failures and enforces the lockout. An account whose email
    is not verified, or that is frozen, closed or inactive, is refused with the
    same message as a wrong password (A12). Never reveals whether the account exists.
    """
    try:
        channel_check("login.password")
    except ChannelDisabled as exc:
        raise LoginRefused(LoginRefused.Code.CHANNEL_DISABLED, login_suspended_message()) from exc
    user = authenticate(request, username=email, password=password)
    if getattr(request, "axes_locked_out", False):
        raise LoginRefused(LoginRefused.Code.LOCKED, login_locked_message())
    if user is None or not isinstance(user, User):
        raise LoginRefused(LoginRefused.Code.INVALID, login_invalid_message())
    if not user_can_log_in(user):
        # Right password, but unverified, frozen or closed: handled exactly like a wrong
        # password (A12): the same signal, so the same failure count, log row and answer.
        user_login_failed.send(sender=__name__, credentials={"username": email}, request=request)
        raise LoginRefused(LoginRefused.Code.INVALID, login_invalid_message())
    return user


def device_login_record(*, user: User, device_id: str, meta: RequestMeta) -> tuple[KnownDevice, bool]:
    """Upsert the KnownDevice for this browser/app; a new one gets an event and a notice (A11).

    A device the user revoked earlier is re-admitted as new (and noticed again).
    """
    now = timezone.now()
    digest = device_digest(device_id)
    with transaction.atomic():
        device, created = KnownDevice.objects.select_for_update().get_or_create(
            user=user,
            device_digest=digest,
            defaults={"label": fit(KnownDevice, "label", meta.user_agent), "first_seen_at": now, "last_seen_at": now, "last_ip": meta.ip},
        )
        is_new = created or device.revoked_at is not None
        if not created:
            device.last_seen_at = now
            device.last_ip = meta.ip
            if device.revoked_at is not None:
                device.revoked_at = None
                device.first_seen_at = now
                device.label = fit(KnownDevice, "label", meta.user_agent)
            device.save(update_fields=["last_seen_at", "last_ip", "revoked_at", "first_seen_at", "label"])
        if is_new:
            auth_event_record(kind=AuthEvent.Kind.NEW_DEVICE, meta=meta, user=user, detail={"device": device.pk})
            notification_enqueue(user=user, kind="new_device_login", context=meta.sign_in_notice_context(now))
    return device, is_new


def login_risk_check(*, user: User, device_id: str, meta: RequestMeta) -> RiskDecision:
    """Score a login that passed the password and the second factor.

    ``block`` refuses it with the wrong-password answer (A12: nothing tells an
    attacker which check stopped them); ``review`` lets it through, and the
    new-device notice tells the owner. The decision is kept either way.
    """
    decision = risk_assess(
        event=RiskEvent.LOGIN,
        user=user,
        channel=meta.channel,
        meta=meta,
        device_key=device_digest(device_id) if device_id else "",
    )
    if decision.outcome == RiskOutcome.BLOCK:
        auth_event_record(kind=AuthEvent.Kind.LOGIN_FAILED, meta=meta, user=user, detail={"risk_decision": decision.pk})
        raise LoginRefused(LoginRefused.Code.INVALID, login_invalid_message())
    return decision


def login_finish(
    *,
    request: HttpRequest,
    user: User,
    otp_device: Device | None,
    device_id: str,
    meta: RequestMeta,
) -> KnownDevice | None:
    """Log ``user`` in on this request after the password (and, when given, the second factor).

    A new session id (``login()`` cycles it, S01), the session clocks start, the
    session is tied to the browser's known-device row, and the login is logged.
    Only a login with a second factor makes the browser a known device.
    """
    try:
        channel_check("login.password")
    except ChannelDisabled as exc:
        raise LoginRefused(LoginRefused.Code.CHANNEL_DISABLED, login_suspended_message()) from exc
    decision = login_risk_check(user=user, device_id=device_id, meta=meta) if otp_device is not None else None
    with transaction.atomic():
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        device: KnownDevice | None = None
        if decision is not None:
            transaction.on_commit(partial(risk_record, decision=decision))
        if otp_device is not None:
            otp_login(request, otp_device)
            device, _is_new = device_login_record(user=user, device_id=device_id, meta=meta)
            UserSession.objects.filter(session_key=request.session.session_key).update(device=device)
        else:
            # A password-only login (no factor yet) never makes a known device, but the owner hears of it (A13).
            notification_enqueue(user=user, kind="new_device_login", context=meta.sign_in_notice_context())
        session_mark_login(request)
        auth_event_record(
            kind=AuthEvent.Kind.LOGIN_SUCCEEDED,
            meta=meta,
            user=user,
            detail={"second_factor": otp_device is not None},
        )
    return device


def otp_session_attach(*, request: HttpRequest, user: User, otp_device: Device, device_id: str, meta: RequestMeta) -> KnownDevice:
    """A logged-in user has just proved a second factor (first enrolment, step-up):
    the session becomes verified and the browser a known device."""
    with transaction.atomic():
        otp_login(request, otp_device)
        device, _is_new = device_login_record(user=user, device_id=device_id, meta=meta)
        UserSession.objects.filter(session_key=request.session.session_key).update(device=device)
    return device


def step_up_complete(
    *, request: HttpRequest, user: User, code: str, device_id: str, meta: RequestMeta, source: CodeSource | None = None
) -> bool:
    """A fresh code: new session id and step-up time (S01, S04). False if the code is wrong."""
    otp_device = second_factor_verify(user=user, code=code, meta=meta, purpose="step_up", source=source)
    if otp_device is None:
        return False
    with transaction.atomic():
        step_up_mark(request)
        otp_session_attach(request=request, user=user, otp_device=otp_device, device_id=device_id, meta=meta)
        auth_event_record(kind=AuthEvent.Kind.STEP_UP, meta=meta, user=user)
    return True


def totp_enrolment_finish(
    *,
    request: HttpRequest,
    user: User,
    totp_device_pk: int,
    code: str,
    device_id: str,
    meta: RequestMeta,
    proof: ContactProven | None,
) -> TOTPDevice | None:
    """Confirm a new authenticator with its first code. The code just typed counts as a
    fresh verification (step-up, S01); other sessions and API tokens end (S02). A first
    authenticator needs ``proof`` of a contact on record (A13); raises ``FirstFactorRefused``."""
    with transaction.atomic():
        totp = customer_totp_enrolment_confirm(user=user, device_id=totp_device_pk, code=code, proof=proof, meta=meta)
        if totp is None:
            return None
        step_up_mark(request)
        otp_session_attach(request=request, user=user, otp_device=totp, device_id=device_id, meta=meta)
        credentials_revoke(user=user, keep_session_key=request.session.session_key)
        session_mark_credentials_current(request)
    return totp


def factor_remove(*, request: HttpRequest, user: User, device: Device, meta: RequestMeta) -> None:
    """A10: the view has checked a fresh step-up. Other sessions and tokens end (S02);
    this one stays. Removing the last authenticator is allowed: the session is then no
    longer verified and the money guards send the user to enrol again."""
    second_factor_remove(user=user, device=device, meta=meta, keep_session_key=request.session.session_key)
    session_mark_credentials_current(request)


def other_sessions_end(*, user: User, keep_session_key: str | None, meta: RequestMeta) -> int:
    """ "Log out everywhere else": every other web session and every app token of the user ends now (S07)."""
    with transaction.atomic():
        ended = sessions_end(user=user, keep_session_key=keep_session_key)
        ended += ApiToken.objects.filter(user=user).delete()[0]
        if ended:
            auth_event_record(kind=AuthEvent.Kind.SESSIONS_ENDED, meta=meta, user=user, detail={"count": ended})
            notification_enqueue(user=user, kind="sessions_ended", context={"count": ended, "ip": meta.ip or ""})
    return ended


def known_device_revoke(*, user: User, device_pk: int, keep_session_key: str | None, meta: RequestMeta) -> bool:
    """Forget a device: it loses the lockout exemption, and its sessions and app tokens end (S07)."""
    with transaction.atomic():
        device = KnownDevice.objects.select_for_update().filter(pk=device_pk, user=user, revoked_at__isnull=True).first()
        if device is None:
            return False
        device.revoked_at = timezone.now()
        device.save(update_fields=["revoked_at"])
        sessions = UserSession.objects.filter(user=user, device=device, ended_at__isnull=True)
        if keep_session_key:
            sessions = sessions.exclude(session_key=keep_session_key)
        keys = list(sessions.values_list("session_key", flat=True))
        Session.objects.filter(session_key__in=keys).delete()
        UserSession.objects.filter(session_key__in=keys).update(ended_at=timezone.now())
        tokens = ApiToken.objects.filter(user=user, device=device).delete()[0]
        auth_event_record(
            kind=AuthEvent.Kind.SESSIONS_ENDED,
            meta=meta,
            user=user,
            detail={"device_revoked": device.pk, "count": len(keys), "tokens": tokens},
        )
    return True


def login_unlock_request(*, email: str, meta: RequestMeta) -> None:
    """Mail an unlock link to the address on record, if there is such an account.

    The caller answers the same either way and rate-limits by address and email.
    """
    normalized = normalize_email(email)
    with transaction.atomic():
        user = User.objects.filter(email=normalized).first()
        if user is not None and user_can_log_in(user):
            notification_enqueue(user=user, kind="login_unlock")


def login_unlock_read(token: str) -> User | None:
    """The user an unlock link was made for, if it is authentic, under an hour old and
    the credentials have not changed since (a password reset kills old links)."""
    data = signed_payload_read(token, salt=UNLOCK_SALT, max_age_seconds=UNLOCK_MAX_AGE_SECONDS)
    if data is None:
        return None
    uid = data.get("uid")
    if not isinstance(uid, int):
        return None
    user = User.objects.filter(pk=uid).first()
    if user is None or not user_can_log_in(user):
        return None
    if data.get("cc") != user.credentials_changed_at.isoformat():
        return None
    return user


def login_unlock_use(*, user: User, device_id: str, meta: RequestMeta) -> KnownDevice:
    """Make this browser a known device for ``user`` and clear the account's failure count."""
    with transaction.atomic():
        device, _is_new = device_login_record(user=user, device_id=device_id, meta=meta)
        axes_reset(username=user.email)
        auth_event_record(kind=AuthEvent.Kind.UNLOCK_LINK_USED, meta=meta, user=user, detail={"device": device.pk})
    return device


# --- Guidance after a staff or mass password reset ----------------------------------------

RESET_NOTICE_CACHE_KEY = "wallet:login:reset-notice"
RESET_NOTICE_CACHE_SECONDS = 60 * 60


def security_reset_in_effect() -> bool:
    """Whether some customer accounts wait for a reset that staff or a mass reset imposed.

    While they do, the login tells everyone how to get back in. It is a fact about
    the site, the same for every visitor, so it says nothing about any address
    (A12). Only the cache is read here, so a refused login does the same database
    work whoever it is for; ``security_reset_notice_refresh`` writes it.
    """
    return bool(cache.get(RESET_NOTICE_CACHE_KEY, False))


def security_reset_notice_refresh() -> bool:
    """Recompute ``security_reset_in_effect`` (off the request path: the reset job and its watchdog call it)."""
    in_effect = User.objects.filter(must_reset_password=True, is_staff=False).exists()
    cache.set(RESET_NOTICE_CACHE_KEY, in_effect, RESET_NOTICE_CACHE_SECONDS)
    return in_effect


def reset_required_for(*, email: str, device_id: str | None) -> User | None:
    """After a refused password: the account behind ``email`` if its password was reset
    by staff or a mass reset (unusable, so any password is refused) and ``device_id``
    is one of its known devices, i.e. this browser or app completed a login with the
    account's second factor before. Only the owner's own device learns that the
    password was reset and when; anyone else gets the answer an unknown address gets
    (A12, R02). The same lookup runs for every refused login, so the work does not
    depend on whether the account exists.
    """
    user = User.objects.filter(email=normalize_email(email), must_reset_password=True, is_staff=False).first()
    if user is None or not device_id or not user_can_log_in(user):
        return None
    return user if device_is_known(user, device_id) else None


def reset_notice_message() -> str:
    return _(
        "If AnzenPay told you that your password was reset for security, your old password no longer works. "
        "Ask for a reset link: it is sent only to the email address registered on your account."
    )
