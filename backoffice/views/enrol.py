"""Staff first-login enrolment of a TOTP device (A05).

A staff member without a confirmed device cannot pass the OTP admin login, so a
superuser (or ``seed_demo``) opens a time-limited window on the account. Inside
it, the member proves the password (``authenticate``, so django-axes counts and
locks), scans the QR code and confirms with a first code. They are not logged in
by this page: they then sign in to the admin with email, password and a code.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_ratelimit.decorators import ratelimit

from wallet.models import User
from wallet.request_meta import RequestMeta

from ..forms import CodeForm, StaffEnrolSignInForm
from ..services.staff import staff_enrolment_begin, staff_enrolment_complete, staff_enrolment_is_open

SESSION_KEY = "_anzen_staff_enrol"
PENDING_MAX_AGE = timedelta(minutes=10)


def _refused_message() -> str:
    return _(
        "These details are not correct, or this account cannot enrol a second factor now. "
        "New staff, or staff who lost their device, ask a superuser to open an enrolment window."
    )


def qr_svg(data: str) -> SafeString:
    """An inline SVG QR code (no image request, no inline script or style: CSP 'self')."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=4)
    svg = image.to_string(encoding="unicode")
    # The markup comes from the qrcode library and our own otpauth URI, never from user input.
    return mark_safe(svg)  # noqa: S308


def _pending(request: HttpRequest) -> tuple[User, TOTPDevice] | None:
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    try:
        started = datetime.fromisoformat(str(data["at"]))
        user = User.objects.get(pk=int(data["uid"]))
        device = TOTPDevice.objects.get(pk=int(data["device"]), user=user, confirmed=False)
    except (KeyError, ValueError, User.DoesNotExist, TOTPDevice.DoesNotExist):
        request.session.pop(SESSION_KEY, None)
        return None
    if timezone.now() - started > PENDING_MAX_AGE or user.credentials_changed_at.isoformat() != data.get("cc"):
        request.session.pop(SESSION_KEY, None)
        return None
    return user, device


@never_cache
@require_http_methods(["GET", "POST"])
@ratelimit(key="ip", rate="20/m", method="POST", block=False)
def enrol_start(request: HttpRequest) -> HttpResponse:
    form = StaffEnrolSignInForm(request.POST or None)
    if request.method == "POST":
        if getattr(request, "limited", False):
            form.add_error(None, _("Too many attempts from this address. Wait a minute and try again."))
        elif form.is_valid():
            user = authenticate(request, username=form.cleaned_data["email"], password=form.cleaned_data["password"])
            if isinstance(user, User) and staff_enrolment_is_open(user):
                device = staff_enrolment_begin(user=user)
                request.session.cycle_key()
                request.session[SESSION_KEY] = {
                    "uid": user.pk,
                    "device": device.pk,
                    "at": timezone.now().isoformat(),
                    "cc": user.credentials_changed_at.isoformat(),
                }
                return HttpResponseRedirect(reverse("backoffice:enrol_confirm"))
            form.add_error(None, _refused_message())
    return render(request, "backoffice/enrol_start.html", {"form": form}, status=400 if form.errors else 200)


@never_cache
@require_http_methods(["GET", "POST"])
@ratelimit(key="ip", rate="20/m", method="POST", block=False)
def enrol_confirm(request: HttpRequest) -> HttpResponse:
    pending = _pending(request)
    if pending is None:
        messages.error(request, _("Your enrolment has expired. Sign in again to start over."))
        return HttpResponseRedirect(reverse("backoffice:enrol"))
    user, device = pending
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        if getattr(request, "limited", False):
            form.add_error(None, _("Too many attempts from this address. Wait a minute and try again."))
        elif form.is_valid():
            confirmed = staff_enrolment_complete(
                user=user, device_id=device.pk, code=form.cleaned_data["code"], meta=RequestMeta.from_request(request)
            )
            if confirmed is not None:
                request.session.pop(SESSION_KEY, None)
                messages.success(request, _("Your authenticator app is set up. Sign in with your email, password and a code."))
                return HttpResponseRedirect(reverse("admin:login"))
            if not staff_enrolment_is_open(user):
                request.session.pop(SESSION_KEY, None)
                messages.error(request, _refused_message())
                return HttpResponseRedirect(reverse("backoffice:enrol"))
            form.add_error("code", _("The code is not valid. Check the time on your phone and enter the newest code."))
    context = {
        "form": form,
        "qr": qr_svg(device.config_url),
        "secret": _base32(device),
        "email": user.email,
    }
    return render(request, "backoffice/enrol_confirm.html", context, status=400 if form.errors else 200)


def _base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")
