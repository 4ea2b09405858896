"""Sign-up: the form, 'check your email', the email link, and the SMS step.

A12: a new address and a taken one get the same redirect to the same page.
B05: per-address and per-IP limits, answered with a clear 429 page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from ..access import url_with_next
from ..forms.signup import PhoneCodeForm, PhoneNumberForm, ResendLinkForm, SignupForm
from ..middleware import session_mark_login
from ..models import PhoneVerification, User, normalize_email
from ..request_meta import RequestMeta
from ..services.first_factor import VIA_SIGNUP, ContactProven, session_contact_proof, session_contact_proof_mark
from ..services.phone import PhoneCodeError, phone_code_send, phone_code_usable, phone_code_verify, phone_display
from ..services.signup import (
    InvalidVerificationLink,
    SignupDetails,
    signup_email_verify,
    signup_link_check,
    signup_link_resend,
    signup_submit,
)
from ..switches import ChannelDisabled

SIGNUP_RATE_PER_IP = "10/h"
SIGNUP_RATE_PER_EMAIL = "3/h"
PHONE_RATE_PER_USER = "20/15m"


def _email_key(group: str, request: HttpRequest) -> str:
    return normalize_email(request.POST.get("email", ""))


def _user_key(group: str, request: HttpRequest) -> str:
    return str(request.user.pk)


def too_many_requests(request: HttpRequest) -> HttpResponse:
    return render(request, "wallet/signup/too_many.html", status=429)


def _ip_limited(request: HttpRequest, group: str) -> bool:
    return is_ratelimited(request, group=group, key="ip", rate=SIGNUP_RATE_PER_IP, method="POST", increment=True)


def _email_limited(request: HttpRequest, group: str) -> bool:
    return is_ratelimited(request, group=group, key=_email_key, rate=SIGNUP_RATE_PER_EMAIL, method="POST", increment=True)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("wallet:home")
    if request.method != "POST":
        return render(request, "wallet/signup/signup.html", {"form": SignupForm()})
    if _ip_limited(request, "signup.ip"):
        return too_many_requests(request)
    form = SignupForm(request.POST)
    if not form.is_valid():
        return render(request, "wallet/signup/signup.html", {"form": form})
    if _email_limited(request, "signup.email"):
        return too_many_requests(request)
    data = form.cleaned_data
    details = SignupDetails(
        email=data["email"],
        password=data["password"],
        full_name=data["full_name"],
        name_kana=data["name_kana"],
        phone=data["phone"],
        birth_date=data.get("birth_date"),
    )
    try:
        signup_submit(details=details, meta=RequestMeta.from_request(request), language=get_language() or "ja")
    except ChannelDisabled as exc:
        return render(request, "wallet/signup/signup.html", {"form": form, "suspended": exc.message}, status=503)
    return redirect("wallet:signup_sent")


def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "wallet/signup/sent.html")


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "wallet/signup/link_invalid.html", {"form": ResendLinkForm()}, status=400)


@require_http_methods(["GET", "POST"])
def signup_verify_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """GET only shows a button: mail scanners that open links must not use them up."""
    if request.method != "POST":
        if signup_link_check(uidb64=uidb64, token=token) is None:
            return _invalid_link(request)
        return render(request, "wallet/signup/verify_email.html")
    meta = RequestMeta.from_request(request)
    try:
        user = signup_email_verify(uidb64=uidb64, token=token, meta=meta)
    except InvalidVerificationLink:
        return _invalid_link(request)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    session_mark_login(request)
    # The verification link is the sign-up's proof of the email on record (A13): this
    # session may go on to verify the phone and enrol the first authenticator.
    session_contact_proof_mark(request, user=user, proven=ContactProven(at=timezone.now(), via=VIA_SIGNUP))
    _send_signup_code(request, user, phone=user.phone)
    return redirect("wallet:signup_phone")


def _send_signup_code(request: HttpRequest, user: User, *, phone: str) -> bool:
    try:
        phone_code_send(user=user, phone=phone, purpose=PhoneVerification.Purpose.SIGNUP, meta=RequestMeta.from_request(request))
    except PhoneCodeError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, _("We sent a 6-digit code by SMS to %(phone)s.") % {"phone": phone_display(phone)})
    return True


@require_http_methods(["GET", "POST"])
def signup_resend(request: HttpRequest) -> HttpResponse:
    """A new verification link; the same answer whether or not the address waits for one."""
    if request.method != "POST":
        return render(request, "wallet/signup/link_invalid.html", {"form": ResendLinkForm(), "resend_only": True})
    if _ip_limited(request, "signup-resend.ip"):
        return too_many_requests(request)
    form = ResendLinkForm(request.POST)
    if not form.is_valid():
        return render(request, "wallet/signup/link_invalid.html", {"form": form, "resend_only": True}, status=400)
    if _email_limited(request, "signup-resend.email"):
        return too_many_requests(request)
    signup_link_resend(email=form.cleaned_data["email"], meta=RequestMeta.from_request(request))
    return redirect("wallet:signup_sent")


@login_required
@require_http_methods(["GET", "POST"])
def signup_phone(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if user.phone_verified_at is not None:
        return redirect("wallet:totp_enrol")
    if user.email_verified_at is None:
        return redirect("wallet:home")
    if session_contact_proof(request, user) is None:
        # A13: a sign-up left before the phone step is resumed only after proving the email
        # again; the password alone must not choose the phone the account trusts.
        return redirect(url_with_next("wallet:contact_proof", reverse("wallet:signup_phone")))
    code_form, number_form = PhoneCodeForm(), PhoneNumberForm(initial={"phone": phone_display(user.phone)})
    if request.method == "POST":
        if is_ratelimited(request, group="signup-phone.user", key=_user_key, rate=PHONE_RATE_PER_USER, method="POST", increment=True):
            return too_many_requests(request)
        action = request.POST.get("action", "verify")
        if action == "resend":
            _send_signup_code(request, user, phone=user.phone)
            return redirect("wallet:signup_phone")
        if action == "change":
            number_form = PhoneNumberForm(request.POST)
            if number_form.is_valid():
                _send_signup_code(request, user, phone=number_form.cleaned_data["phone"])
                return redirect("wallet:signup_phone")
        else:
            code_form = PhoneCodeForm(request.POST)
            if code_form.is_valid():
                meta = RequestMeta.from_request(request)
                if phone_code_verify(user=user, code=code_form.cleaned_data["code"], purpose=PhoneVerification.Purpose.SIGNUP, meta=meta):
                    messages.success(request, _("Your phone number is verified. Now set up your authenticator app."))
                    return redirect("wallet:totp_enrol")
                code_form.add_error(
                    "code", _("That code is not right, or it has expired or been used. Check the SMS or ask for a new code.")
                )
    context = {
        "code_form": code_form,
        "number_form": number_form,
        "phone": phone_display(user.phone),
        "pending": phone_code_usable(user=user, purpose=PhoneVerification.Purpose.SIGNUP),
    }
    return render(request, "wallet/signup/phone.html", context, status=400 if request.method == "POST" else 200)


urlpatterns: list[URLPattern] = [
    path("signup/", signup, name="signup"),
    path("signup/sent/", signup_sent, name="signup_sent"),
    path("signup/resend/", signup_resend, name="signup_resend"),
    path("signup/verify/<str:uidb64>/<str:token>/", signup_verify_email, name="signup_verify_email"),
    path("signup/phone/", signup_phone, name="signup_phone"),
]
