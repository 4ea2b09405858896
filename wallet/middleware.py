from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from .models import User

SESSION_STARTED = "_anzen_started"
SESSION_LAST_SEEN = "_anzen_last_seen"
SESSION_AUTH_AT = "_anzen_auth_at"

# Writing last-seen on every request would make every page a session write.
_TOUCH_SECONDS = 60


class SessionTimeoutMiddleware:
    """S05: idle and absolute timeouts (shorter for staff); S02: a session that began
    before the user's credentials last changed is over; S03: so is every session of an
    account that is no longer active."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = timezone.now()
            started = _read(request, SESSION_STARTED) or now
            last_seen = _read(request, SESSION_LAST_SEEN) or now
            auth_at = _read(request, SESSION_AUTH_AT) or started
            idle, absolute = (
                (settings.STAFF_SESSION_IDLE_TIMEOUT, settings.STAFF_SESSION_ABSOLUTE_TIMEOUT)
                if user.is_staff
                else (settings.SESSION_IDLE_TIMEOUT, settings.SESSION_ABSOLUTE_TIMEOUT)
            )
            expired = (
                now - last_seen > idle
                or now - started > absolute
                or auth_at < user.credentials_changed_at
                # S03: a frozen or closed account loses its sessions on the very next request.
                or user.status != user.Status.ACTIVE
                or not user.is_active
            )
            if expired:
                logout(request)
                request.session["timed_out"] = True
            else:
                request.session.setdefault(SESSION_STARTED, now.isoformat())
                request.session.setdefault(SESSION_AUTH_AT, auth_at.isoformat())
                if (now - last_seen).total_seconds() >= _TOUCH_SECONDS or SESSION_LAST_SEEN not in request.session:
                    request.session[SESSION_LAST_SEEN] = now.isoformat()
        return self.get_response(request)


def _read(request: HttpRequest, key: str) -> datetime | None:
    raw = request.session.get(key)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def session_mark_login(request: HttpRequest) -> None:
    """Call right after ``login()``: the absolute and idle clocks start now."""
    now = timezone.now().isoformat()
    request.session[SESSION_STARTED] = now
    request.session[SESSION_LAST_SEEN] = now
    request.session[SESSION_AUTH_AT] = now


def session_mark_credentials_current(request: HttpRequest) -> None:
    """Call after a credential change that keeps this session alive (the user's own
    password change): this session is newer than the change, the others are not."""
    request.session[SESSION_AUTH_AT] = timezone.now().isoformat()


class LanguageMiddleware:
    """Japanese unless the visitor chose otherwise with the language switch (its cookie).

    Unlike Django's LocaleMiddleware the browser's Accept-Language is not consulted:
    the service is Japanese first. A signed-in customer's choice is remembered on
    the account, so mail follows the language of the pages.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supported = {code for code, _name in settings.LANGUAGES}
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if chosen in supported and user is not None and user.is_authenticated and user.preferred_language != chosen:
            # request.user is a lazy proxy: type(user) is SimpleLazyObject, not the model.
            User.objects.filter(pk=user.pk).update(preferred_language=chosen)
            user.preferred_language = chosen
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response
