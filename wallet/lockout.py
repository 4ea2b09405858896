"""django-axes hooks (A04, T9).

Axes locks an account and an address after ``AXES_FAILURE_LIMIT`` consecutive
failures. So that an attacker cannot keep the owner out, a browser that has
already completed a login with the second factor for that account (a known
device, see ``wallet.devices``) is exempt from the lock, and a locked-out owner
can have an unlock link mailed to the verified address on record; following it
makes that browser a known device.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .devices import device_digest, device_id_read
from .models import KnownDevice, normalize_email
from .request_meta import client_ip as _client_ip


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    raw = (credentials or {}).get("username") or request.POST.get("username") or request.POST.get("email") or ""
    return normalize_email(str(raw))


def is_trusted_for_username(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    # The app names its device in the login body (A16); a browser carries the signed cookie.
    device_id = getattr(request, "anzen_app_device_id", None) or device_id_read(request)
    if device_id is None:
        return False
    email = axes_username(request, credentials)
    return KnownDevice.objects.filter(user__email=email, device_digest=device_digest(device_id), revoked_at__isnull=True).exists()


def client_ip(request: HttpRequest) -> str | None:
    return _client_ip(request)


def client_ip_for_ratelimit(request: HttpRequest) -> str:
    return _client_ip(request) or "unknown"


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None) -> HttpResponse:
    message = _(
        "Too many failed attempts. Wait 15 minutes and try again, or ask for an unlock link "
        "sent to the email address registered on your account."
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "code": "locked"}, status=429)
    return render(request, "wallet/auth/locked.html", {"message": message}, status=429)
