"""The long-lived device cookie: a random id, signed, HttpOnly; only its digest is stored."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from .models import KnownDevice, User

_SALT = "anzenpay.device"


def device_id_read(request: HttpRequest) -> str | None:
    value = request.get_signed_cookie(settings.DEVICE_COOKIE_NAME, default=None, salt=_SALT)
    return value if value and len(value) >= 32 else None


def device_digest(device_id: str) -> str:
    return hashlib.sha256(device_id.encode()).hexdigest()


def device_id_for_response(request: HttpRequest) -> str:
    """The browser's device id, or a new one when it has none yet."""
    return device_id_read(request) or secrets.token_urlsafe(32)


def device_cookie_set(response: HttpResponseBase, device_id: str) -> None:
    response.set_signed_cookie(
        settings.DEVICE_COOKIE_NAME,
        device_id,
        salt=_SALT,
        max_age=settings.DEVICE_COOKIE_MAX_AGE,
        httponly=True,
        secure=not settings.DEBUG,
        samesite="Lax",
    )


def device_is_known(user: User, device_id: str | None) -> bool:
    """Whether ``device_id`` (a browser's cookie or an app's install id) completed a login with
    ``user``'s second factor and was not removed since: the exemptions of A04, A15 and A16."""
    if not device_id:
        return False
    return KnownDevice.objects.filter(user=user, device_digest=device_digest(device_id), revoked_at__isnull=True).exists()
