"""Password reset pages (R01–R07)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from ..field_length import fit
from ..forms.auth import EmailForm, SetPasswordForm
from ..models import User, normalize_email
from ..request_meta import RequestMeta
from ..services.reset import password_reset_complete, password_reset_request, password_reset_user

RESET_RATE_PER_IP = "20/h"
RESET_RATE_PER_EMAIL = "3/h"
# The token is kept in the session, not the address bar, once the link is opened
# (as Django's PasswordResetConfirmView does), so it does not leak via Referer.
RESET_SESSION_TOKEN = "_anzen_reset_token"
RESET_URL_TOKEN = "set-password"


def _reset_email_key(group: str, request: HttpRequest) -> str:
    return fit(User, "email", normalize_email(str(request.POST.get("email", ""))))


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_view(request: HttpRequest) -> HttpResponse:
    form = EmailForm(request.POST or None)
    if request.method == "POST":
        if is_ratelimited(request, group="wallet.reset.ip", key="ip", rate=RESET_RATE_PER_IP, method="POST", increment=True):
            form.add_error(None, _("Too many requests from your network. Please try again later."))
            return render(request, "wallet/reset/request.html", {"form": form}, status=429)
        if form.is_valid():
            # Only the typed address is read, and only to find the account; the mail
            # goes to the address on record (R01). A spent per-address limit answers the same.
            email_limited = is_ratelimited(
                request, group="wallet.reset.email", key=_reset_email_key, rate=RESET_RATE_PER_EMAIL, method="POST", increment=True
            )
            password_reset_request(email=form.cleaned_data["email"], meta=RequestMeta.from_request(request), send=not email_limited)
            return redirect("wallet:password_reset_done")
    return render(request, "wallet/reset/request.html", {"form": form})


def password_reset_done_view(request: HttpRequest) -> HttpResponse:
    return render(request, "wallet/reset/done.html")


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_confirm_view(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    if token != RESET_URL_TOKEN:
        # First visit from the mail: move the token into the session and drop it from the URL.
        request.session[RESET_SESSION_TOKEN] = token
        return redirect("wallet:password_reset_confirm", uidb64=uidb64, token=RESET_URL_TOKEN)
    session_token = str(request.session.get(RESET_SESSION_TOKEN, ""))
    user = password_reset_user(uidb64=uidb64, token=session_token)
    if user is None:
        return render(request, "wallet/reset/invalid.html", status=400)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        done = password_reset_complete(
            user=user, token=session_token, new_password=form.cleaned_data["new_password2"], meta=RequestMeta.from_request(request)
        )
        request.session.pop(RESET_SESSION_TOKEN, None)
        if not done:
            return render(request, "wallet/reset/invalid.html", status=400)
        # R04: not logged in; the login asks for the second factor as always.
        messages.success(request, _("Your password has been changed. Log in with your new password and your second factor."))
        return redirect("wallet:login")
    return render(request, "wallet/reset/confirm.html", {"form": form})


urlpatterns: list[URLPattern] = [
    path("password-reset/", password_reset_view, name="password_reset"),
    path("password-reset/sent/", password_reset_done_view, name="password_reset_done"),
    path("password-reset/<str:uidb64>/<str:token>/", password_reset_confirm_view, name="password_reset_confirm"),
]
