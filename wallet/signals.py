"""Keep the session index and the authentication log in step with Django's auth signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from .models import AuthEvent, User, UserSession, normalize_email
from .request_meta import RequestMeta
from .services.auth_events import auth_event_record


@receiver(user_logged_in)
def _index_session(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    meta = RequestMeta.from_request(request)
    UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={"user": user, "ip": meta.ip, "user_agent": meta.user_agent, "created_at": timezone.now(), "ended_at": None},
    )


@receiver(user_logged_out)
def _end_session(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if request is None or user is None:
        return
    key = request.session.session_key
    if key:
        UserSession.objects.filter(session_key=key).update(ended_at=timezone.now())
    auth_event_record(kind=AuthEvent.Kind.LOGOUT, meta=RequestMeta.from_request(request), user=user)


@receiver(user_login_failed)
def _log_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    identifier = normalize_email(str(credentials.get("username") or credentials.get("email") or ""))
    user = User.objects.filter(email=identifier).first() if identifier else None
    locked = bool(getattr(request, "axes_locked_out", False))
    meta = RequestMeta.from_request(request) if request is not None else RequestMeta(ip=None, user_agent="")
    auth_event_record(
        kind=AuthEvent.Kind.LOGIN_LOCKED if locked else AuthEvent.Kind.LOGIN_FAILED,
        meta=meta,
        user=user,
        claimed_identifier=identifier,
    )
