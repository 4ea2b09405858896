"""Lockout recovery (A04): an unlock link mailed to the address on record makes the
owner's browser a known device, exempt from the lock an attacker's guesses set."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from ..devices import device_cookie_set, device_id_for_response
from ..field_length import fit
from ..forms.auth import EmailForm
from ..models import User, normalize_email
from ..request_meta import RequestMeta
from ..services.login import login_unlock_read, login_unlock_request, login_unlock_use

UNLOCK_RATE_PER_IP = "10/h"
UNLOCK_RATE_PER_EMAIL = "3/h"


def _meta(request: HttpRequest) -> RequestMeta:
    return RequestMeta.from_request(request)


def _unlock_email_key(group: str, request: HttpRequest) -> str:
    return fit(User, "email", normalize_email(str(request.POST.get("email", ""))))


@never_cache
@require_http_methods(["GET", "POST"])
def login_unlock_request_view(request: HttpRequest) -> HttpResponse:
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ip_limited = is_ratelimited(request, group="wallet.unlock.ip", key="ip", rate=UNLOCK_RATE_PER_IP, method="POST", increment=True)
        if ip_limited:
            form.add_error(None, _("Too many requests from your network. Please try again later."))
            return render(request, "wallet/auth/unlock_request.html", {"form": form}, status=429)
        email_limited = is_ratelimited(
            request, group="wallet.unlock.email", key=_unlock_email_key, rate=UNLOCK_RATE_PER_EMAIL, method="POST", increment=True
        )
        if not email_limited:
            login_unlock_request(email=form.cleaned_data["email"], meta=_meta(request))
        # The same answer whether or not the account exists, and when the address is rate-limited.
        return render(request, "wallet/auth/unlock_sent.html")
    return render(request, "wallet/auth/unlock_request.html", {"form": form})


@never_cache
@require_http_methods(["GET", "POST"])
def login_unlock_view(request: HttpRequest, token: str) -> HttpResponse:
    # A GET only shows a button: mail scanners that open links must not use them up.
    user = login_unlock_read(token)
    if user is None:
        return render(request, "wallet/auth/unlock_invalid.html", status=400)
    if request.method == "POST":
        device_id = device_id_for_response(request)
        login_unlock_use(user=user, device_id=device_id, meta=_meta(request))
        messages.success(request, _("This browser is unlocked for your account. You can log in now."))
        response = redirect("wallet:login")
        device_cookie_set(response, device_id)
        return response
    return render(request, "wallet/auth/unlock_confirm.html", {"token": token})


urlpatterns: list[URLPattern] = [
    path("login/unlock/", login_unlock_request_view, name="login_unlock_request"),
    path("login/unlock/<str:token>/", login_unlock_view, name="login_unlock"),
]
