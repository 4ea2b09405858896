"""Customer login with a second factor, step-up and the customer factor pages (enrol, backup codes, remove)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_ratelimit.core import is_ratelimited

from ..access import step_up_required, url_with_next
from ..devices import device_cookie_set, device_id_for_response, device_id_read
from ..forms.auth import LoginForm, OtpForm, TotpConfirmForm
from ..lockout import lockout_response
from ..models import BackupCodeDevice, User
from ..request_meta import RequestMeta
from ..selectors import second_factor_summary
from ..services.code_throttle import CodeSource, code_check_allowed, code_source_blocked_by_account_cap
from ..services.first_factor import (
    FirstFactorRefused,
    customer_totp_enrolment_start,
    first_factor_enrolment_check,
    session_contact_proof,
    session_contact_proof_clear,
)
from ..services.login import (
    LoginRefused,
    factor_remove,
    login_finish,
    password_login_check,
    reset_required_for,
    security_reset_in_effect,
    step_up_complete,
    totp_enrolment_finish,
)
from ..services.second_factor import backup_codes_generate, second_factor_verify, step_up_is_fresh, user_has_second_factor

# The password is right but the second factor is still to come: nobody is logged in yet.
PENDING_UID = "_anzen_pending_uid"
PENDING_AT = "_anzen_pending_at"
PENDING_TRIES = "_anzen_pending_tries"
PENDING_NEXT = "_anzen_pending_next"
PENDING_MAX_AGE = timedelta(minutes=5)
PENDING_MAX_TRIES = 5
ENROL_DEVICE = "_anzen_enrol_device"

LOGIN_RATE_PER_IP = "30/5m"


def _safe_next(request: HttpRequest, raw: str | None, default: str = "wallet:home") -> str:
    if raw and url_has_allowed_host_and_scheme(raw, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return raw
    return reverse(default)


def _next_param(request: HttpRequest) -> str:
    return request.POST.get("next") or request.GET.get("next") or ""


def _meta(request: HttpRequest) -> RequestMeta:
    return RequestMeta.from_request(request)


def _current_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _pending_clear(request: HttpRequest) -> None:
    for key in (PENDING_UID, PENDING_AT, PENDING_TRIES, PENDING_NEXT):
        request.session.pop(key, None)


def pending_user(request: HttpRequest) -> User | None:
    """The account whose password was right and whose second factor is still to come."""
    uid = request.session.get(PENDING_UID)
    raw_at = request.session.get(PENDING_AT)
    if not uid or not raw_at:
        return None
    try:
        started = datetime.fromisoformat(raw_at)
    except ValueError:
        started = None
    if started is None or timezone.now() - started > PENDING_MAX_AGE:
        _pending_clear(request)
        return None
    return User.objects.filter(pk=uid, is_active=True, status=User.Status.ACTIVE).first()


def staff_refused(request: HttpRequest) -> HttpResponse:
    """A14: staff accounts never use the customer factor flows; their factor comes from the staff enrolment link."""
    return render(request, "wallet/auth/staff_factor_refused.html", status=403)


# --- Login -------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_param(request)
    if request.user.is_authenticated and request.user.is_verified():  # type: ignore[union-attr]
        return HttpResponseRedirect(_safe_next(request, next_url))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if is_ratelimited(request, group="wallet.login.ip", key="ip", rate=LOGIN_RATE_PER_IP, method="POST", increment=True):
            form.add_error(None, _("Too many attempts from your network. Please wait a few minutes and try again."))
            status = 429
        elif form.is_valid():
            try:
                user = password_login_check(request=request, email=form.cleaned_data["username"], password=form.cleaned_data["password"])
            except LoginRefused as refused:
                if refused.code == LoginRefused.Code.LOCKED:
                    return lockout_response(request, None, {"username": form.cleaned_data["username"]})
                if refused.code == LoginRefused.Code.INVALID:
                    # A password reset by staff or a mass reset: told only to the account's own known device.
                    reset_user = reset_required_for(email=form.cleaned_data["username"], device_id=device_id_read(request))
                    if reset_user is not None:
                        context = {"reset_at": reset_user.credentials_changed_at, "email": reset_user.email}
                        return render(request, "wallet/auth/login_reset_required.html", context)
                form.add_error(None, refused.message)
            else:
                if user_has_second_factor(user):
                    request.session.cycle_key()
                    request.session[PENDING_UID] = user.pk
                    request.session[PENDING_AT] = timezone.now().isoformat()
                    request.session[PENDING_TRIES] = 0
                    request.session[PENDING_NEXT] = _safe_next(request, next_url)
                    return redirect("wallet:login_otp")
                # No second factor yet: logged in, but the money guards send them to enrol.
                try:
                    login_finish(request=request, user=user, otp_device=None, device_id="", meta=_meta(request))
                except LoginRefused as refused:
                    form.add_error(None, refused.message)
                else:
                    messages.info(request, _("Protect your account: set up an authenticator app before you can pay or top up."))
                    return HttpResponseRedirect(url_with_next("wallet:totp_enrol", _safe_next(request, next_url)))
    reset_notice = security_reset_in_effect()
    # After a refused login the notice offers to send the link for the address just typed (to the address on record).
    reset_email = getattr(form, "cleaned_data", {}).get("username", "") if reset_notice and request.method == "POST" else ""
    context = {"form": form, "next": next_url, "reset_notice": reset_notice, "reset_email": reset_email}
    return render(request, "wallet/auth/login.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def login_otp_view(request: HttpRequest) -> HttpResponse:
    user = pending_user(request)
    if user is None:
        if request.user.is_authenticated and not request.user.is_verified():  # type: ignore[union-attr]
            # Logged in without a second factor: verify it through step-up instead.
            return HttpResponseRedirect(url_with_next("wallet:step_up", request.GET.get("next")))
        messages.info(request, _("Your sign-in has expired. Please enter your password again."))
        return redirect("wallet:login")
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        meta = _meta(request)
        source = _code_source(request, user)
        if not code_check_allowed(user=user, source=source):
            return _codes_throttled(request, user, source)
        otp_device = second_factor_verify(user=user, code=form.cleaned_data["code"], meta=meta, purpose="login", source=source)
        if otp_device is None:
            tries = int(request.session.get(PENDING_TRIES, 0)) + 1
            if tries >= PENDING_MAX_TRIES:
                _pending_clear(request)
                messages.error(request, _("Too many wrong codes. Please enter your password again."))
                return redirect("wallet:login")
            request.session[PENDING_TRIES] = tries
            form.add_error("code", _("That code is not valid. Check your authenticator app and try again."))
        else:
            next_url = str(request.session.get(PENDING_NEXT) or reverse("wallet:home"))
            _pending_clear(request)
            device_id = device_id_for_response(request)
            try:
                login_finish(request=request, user=user, otp_device=otp_device, device_id=device_id, meta=meta)
            except LoginRefused as refused:
                messages.error(request, refused.message)
                return redirect("wallet:login")
            response = HttpResponseRedirect(_safe_next(request, next_url))
            device_cookie_set(response, device_id)
            return response
    return render(request, "wallet/auth/login_otp.html", {"form": form})


def _code_source(request: HttpRequest, user: User) -> CodeSource:
    """Who is typing a code: address, browser and whether they have just proven a contact (A15)."""
    return CodeSource.of(_meta(request), device_id_read(request), contact_proven=session_contact_proof(request, user) is not None)


def _codes_throttled(request: HttpRequest, user: User, source: CodeSource) -> HttpResponse:
    """Codes from this source are not checked for a while. When only the account-wide cap for new
    devices stops them, proving a contact on record lifts it: the owner is never locked out."""
    context = {"recover": code_source_blocked_by_account_cap(user=user, source=source)}
    return render(request, "wallet/auth/codes_throttled.html", context, status=429)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You have been logged out."))
    return redirect("wallet:login")


# --- Step-up and second factors --------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def step_up_view(request: HttpRequest) -> HttpResponse:
    user = _current_user(request)
    next_url = _next_param(request)
    if not user_has_second_factor(user):
        return HttpResponseRedirect(url_with_next("wallet:totp_enrol", next_url or None))
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device_id = device_id_for_response(request)
        source = _code_source(request, user)
        if not code_check_allowed(user=user, source=source):
            return _codes_throttled(request, user, source)
        code = form.cleaned_data["code"]
        if step_up_complete(request=request, user=user, code=code, device_id=device_id, meta=_meta(request), source=source):
            response = HttpResponseRedirect(_safe_next(request, next_url, default="wallet:security"))
            device_cookie_set(response, device_id)
            return response
        form.add_error("code", _("That code is not valid. Check your authenticator app and try again."))
    return render(request, "wallet/auth/step_up.html", {"form": form, "next": next_url})


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    return str(svg)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def totp_enrol_view(request: HttpRequest) -> HttpResponse:
    user = _current_user(request)
    next_url = _next_param(request)
    if user.is_staff:
        return staff_refused(request)
    has_factor = user_has_second_factor(user)
    if has_factor and not step_up_is_fresh(request):
        # Adding another authenticator is a factor change (S04): a fresh code first.
        return HttpResponseRedirect(url_with_next("wallet:step_up", request.get_full_path()))
    proof = session_contact_proof(request, user)
    if not has_factor:
        try:
            first_factor_enrolment_check(user=user, proof=proof, meta=_meta(request))
        except FirstFactorRefused as refused:
            if refused.code != FirstFactorRefused.Code.PROOF_REQUIRED:
                return render(request, "wallet/auth/first_factor_refused.html", {"message": refused.message}, status=403)
            # A13: the password alone never adds a factor; prove the phone or email on record first.
            return HttpResponseRedirect(url_with_next("wallet:contact_proof", next_url or None))
    device: TOTPDevice | None = None
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST":
        device_pk = request.session.get(ENROL_DEVICE)
        device = TOTPDevice.objects.filter(pk=device_pk, user=user, confirmed=False).first() if device_pk else None
        if device is None:
            messages.error(request, _("The set-up took too long. Scan the new code below."))
        elif form.is_valid():
            browser_id = device_id_for_response(request)
            try:
                confirmed = totp_enrolment_finish(
                    request=request,
                    user=user,
                    totp_device_pk=device.pk,
                    code=form.cleaned_data["code"],
                    device_id=browser_id,
                    meta=_meta(request),
                    proof=proof,
                )
            except FirstFactorRefused as refused:
                if refused.code == FirstFactorRefused.Code.PROOF_REQUIRED:
                    messages.info(request, _("That took a while. Confirm it is you again, then scan the new code."))
                    return HttpResponseRedirect(url_with_next("wallet:contact_proof", next_url or None))
                return render(request, "wallet/auth/first_factor_refused.html", {"message": refused.message}, status=403)
            if confirmed is not None:
                request.session.pop(ENROL_DEVICE, None)
                session_contact_proof_clear(request)
                messages.success(request, _("Your authenticator app is set up. Now save your backup codes."))
                target = url_with_next("wallet:backup_codes", _safe_next(request, next_url) if next_url else None)
                response = HttpResponseRedirect(target)
                device_cookie_set(response, browser_id)
                return response
            form.add_error("code", _("That code is not valid. Check the time on your phone and try again."))
    if device is None:
        try:
            device = customer_totp_enrolment_start(user=user, proof=proof, meta=_meta(request))
        except FirstFactorRefused as refused:
            return render(request, "wallet/auth/first_factor_refused.html", {"message": refused.message}, status=403)
        request.session[ENROL_DEVICE] = device.pk
        form = TotpConfirmForm()
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    uri = device.config_url
    context: dict[str, Any] = {
        "form": form,
        "next": next_url,
        "qr_svg": mark_safe(_qr_svg(uri)),  # noqa: S308 - generated locally from our own URI
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "wallet/auth/totp_enrol.html", context)


@never_cache
@step_up_required
@require_http_methods(["GET", "POST"])
def backup_codes_view(request: HttpRequest) -> HttpResponse:
    user = _current_user(request)
    next_url = _next_param(request)
    if user.is_staff:
        return staff_refused(request)
    if request.method == "POST":
        codes = backup_codes_generate(user=user, meta=_meta(request))
        response = render(
            request,
            "wallet/auth/backup_codes_show.html",
            {"codes": codes, "next": _safe_next(request, next_url, default="wallet:security")},
        )
        return response
    summary = second_factor_summary(user=user)
    return render(request, "wallet/auth/backup_codes.html", {"summary": summary, "next": next_url})


def _factor_for(user: User, kind: str, pk: int) -> Device:
    if kind not in {"totp", "backup"}:
        raise Http404
    model: type[Device] = TOTPDevice if kind == "totp" else BackupCodeDevice
    device = model.objects.filter(pk=pk, user=user, confirmed=True).first()
    if device is None:
        raise Http404
    return device


@never_cache
@step_up_required
@require_http_methods(["GET", "POST"])
def factor_remove_view(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    user = _current_user(request)
    if user.is_staff:
        return staff_refused(request)
    device = _factor_for(user, kind, pk)
    totp_count = TOTPDevice.objects.filter(user=user, confirmed=True).count()
    last_totp = kind == "totp" and totp_count == 1
    if request.method == "POST":
        factor_remove(request=request, user=user, device=device, meta=_meta(request))
        messages.success(request, _("The second factor was removed. Your other sessions have been logged out."))
        if last_totp:
            messages.warning(request, _("You have no authenticator app now. Set one up again before you can pay or top up."))
        return redirect("wallet:security")
    return render(request, "wallet/auth/factor_remove.html", {"kind": kind, "device": device, "last_totp": last_totp})


urlpatterns: list[URLPattern] = [
    path("login/", login_view, name="login"),
    path("login/code/", login_otp_view, name="login_otp"),
    path("logout/", logout_view, name="logout"),
    path("step-up/", step_up_view, name="step_up"),
    path("security/authenticator/", totp_enrol_view, name="totp_enrol"),
    path("security/backup-codes/", backup_codes_view, name="backup_codes"),
    path("security/factors/<str:kind>/<int:pk>/remove/", factor_remove_view, name="factor_remove"),
]
