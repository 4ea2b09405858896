"""The profile: details, and changing password (A03), email (A11) and phone (S04)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from ..access import second_factor_required, step_up_required
from ..forms.account import EmailChangeForm, PasswordChangeForm, PhoneChangeCodeForm, PhoneChangeForm
from ..middleware import session_mark_credentials_current
from ..models import PhoneVerification, User
from ..request_meta import RequestMeta
from ..services.account import EmailChangeRefused, email_change_confirm, email_change_request, password_change
from ..services.phone import PhoneCodeError, phone_code_send, phone_code_usable, phone_code_verify, phone_display
from ..services.second_factor import user_has_second_factor
from .signup import too_many_requests

PASSWORD_CHANGE_RATE = "5/15m"
EMAIL_CHANGE_RATE = "5/h"


def _user_key(group: str, request: HttpRequest) -> str:
    return str(request.user.pk)


def _limited(request: HttpRequest, group: str, rate: str) -> bool:
    return is_ratelimited(request, group=group, key=_user_key, rate=rate, method="POST", increment=True)


def _profile_context(user: User, **extra: Any) -> dict[str, Any]:
    return {
        "phone": phone_display(user.phone) if user.phone else "",
        "has_second_factor": user_has_second_factor(user),
        "password_form": PasswordChangeForm(),
        **extra,
    }


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    return render(request, "wallet/account/profile.html", _profile_context(user))


@login_required
@require_POST
def password_change_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if _limited(request, "password-change.user", PASSWORD_CHANGE_RATE):
        return too_many_requests(request)
    form = PasswordChangeForm(request.POST)
    if form.is_valid():
        try:
            password_change(
                user=user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
                meta=RequestMeta.from_request(request),
                keep_session_key=request.session.session_key,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # This session stays: its auth hash follows the new password and it is newer than the change.
            request.session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session_mark_credentials_current(request)
            messages.success(request, _("Your password was changed. You were logged out everywhere else."))
            return redirect("wallet:profile")
    return render(request, "wallet/account/profile.html", _profile_context(user, password_form=form), status=400)


@step_up_required
@require_http_methods(["GET", "POST"])
def email_change(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = EmailChangeForm()
    if request.method == "POST":
        if _limited(request, "email-change.user", EMAIL_CHANGE_RATE):
            return too_many_requests(request)
        form = EmailChangeForm(request.POST)
        if form.is_valid():
            try:
                email = email_change_request(user=user, new_email=form.cleaned_data["new_email"], meta=RequestMeta.from_request(request))
            except ValidationError as exc:
                form.add_error("new_email", exc)
            else:
                messages.success(
                    request,
                    _("We sent a link to %(email)s. Open it within an hour to finish the change; until then your address stays the same.")
                    % {"email": email},
                )
                return redirect("wallet:profile")
    return render(request, "wallet/account/email_change.html", {"form": form}, status=400 if request.method == "POST" else 200)


@second_factor_required
@require_http_methods(["GET", "POST"])
def email_change_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners must not use the link); POST makes the change."""
    if request.method != "POST":
        return render(request, "wallet/account/email_change_confirm.html")
    user: User = request.user  # type: ignore[assignment]
    try:
        email = email_change_confirm(
            user=user, token=token, meta=RequestMeta.from_request(request), keep_session_key=request.session.session_key
        )
    except EmailChangeRefused as refused:
        return render(request, "wallet/account/email_change_confirm.html", {"refused": refused.message}, status=400)
    session_mark_credentials_current(request)
    messages.success(request, _("Your email address is now %(email)s. We told your previous address.") % {"email": email})
    return redirect("wallet:profile")


@step_up_required
@require_http_methods(["GET", "POST"])
def phone_change(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = PhoneChangeForm()
    if request.method == "POST":
        form = PhoneChangeForm(request.POST)
        if form.is_valid():
            phone = form.cleaned_data["phone"]
            if phone == user.phone:
                form.add_error("phone", _("This is already the phone number on your account."))
            else:
                try:
                    phone_code_send(
                        user=user, phone=phone, purpose=PhoneVerification.Purpose.PHONE_CHANGE, meta=RequestMeta.from_request(request)
                    )
                except PhoneCodeError as exc:
                    form.add_error("phone", exc.message)
                else:
                    messages.success(request, _("We sent a 6-digit code by SMS to %(phone)s.") % {"phone": phone_display(phone)})
                    return redirect("wallet:phone_change_verify")
    return render(request, "wallet/account/phone_change.html", {"form": form}, status=400 if request.method == "POST" else 200)


@step_up_required
@require_http_methods(["GET", "POST"])
def phone_change_verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    pending = phone_code_usable(user=user, purpose=PhoneVerification.Purpose.PHONE_CHANGE)
    form = PhoneChangeCodeForm()
    if request.method == "POST":
        form = PhoneChangeCodeForm(request.POST)
        if form.is_valid():
            meta = RequestMeta.from_request(request)
            if phone_code_verify(user=user, code=form.cleaned_data["code"], purpose=PhoneVerification.Purpose.PHONE_CHANGE, meta=meta):
                messages.success(request, _("Your phone number is now %(phone)s.") % {"phone": phone_display(user.phone)})
                return redirect("wallet:profile")
            form.add_error("code", _("That code is not right, or it has expired or been used. Check the SMS or ask for a new code."))
    context = {"form": form, "pending_phone": phone_display(pending.phone) if pending else ""}
    return render(request, "wallet/account/phone_change_verify.html", context, status=400 if request.method == "POST" else 200)


urlpatterns: list[URLPattern] = [
    path("profile/", profile, name="profile"),
    path("profile/password/", password_change_view, name="password_change"),
    path("profile/email/", email_change, name="email_change"),
    path("account/email/confirm/<str:token>/", email_change_confirm_view, name="email_change_confirm"),
    path("profile/phone/", phone_change, name="phone_change"),
    path("profile/phone/verify/", phone_change_verify, name="phone_change_verify"),
]
