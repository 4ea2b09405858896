"""The customer's security page: sign-in history, browser sessions, known devices and
the app's sign-ins, each with a way to end it (S02, S07)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from ..access import second_factor_required
from ..models import User
from ..request_meta import RequestMeta
from ..selectors import active_sessions, api_tokens, known_devices, login_history, second_factor_summary
from ..services.api_auth import api_token_revoke
from ..services.login import known_device_revoke, other_sessions_end

HISTORY_PAGE_SIZE = 10


def _current_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@never_cache
@second_factor_required
@require_http_methods(["GET"])
def security_view(request: HttpRequest) -> HttpResponse:
    user = _current_user(request)
    page = Paginator(login_history(user=user), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "summary": second_factor_summary(user=user),
        "sessions": list(active_sessions(user=user)),
        "current_session_key": request.session.session_key,
        "devices": list(known_devices(user=user)),
        "tokens": list(api_tokens(user=user)),
        "history": page,
    }
    return render(request, "wallet/auth/security.html", context)


@second_factor_required
@require_POST
def security_sessions_end_view(request: HttpRequest) -> HttpResponse:
    ended = other_sessions_end(
        user=_current_user(request), keep_session_key=request.session.session_key, meta=RequestMeta.from_request(request)
    )
    if ended:
        messages.success(request, _("Your other sessions and app sign-ins have been logged out."))
    else:
        messages.info(request, _("There were no other sessions to log out."))
    return redirect("wallet:security")


@second_factor_required
@require_POST
def security_device_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    revoked = known_device_revoke(
        user=_current_user(request), device_pk=pk, keep_session_key=request.session.session_key, meta=RequestMeta.from_request(request)
    )
    if not revoked:
        raise Http404
    messages.success(request, _("The device was removed and signed out. It will need your second factor to log in again."))
    return redirect("wallet:security")


@second_factor_required
@require_POST
def security_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    if not api_token_revoke(user=_current_user(request), token_id=pk, meta=RequestMeta.from_request(request)):
        raise Http404
    messages.success(request, _("The app sign-in was ended. The app will need your password and second factor again."))
    return redirect("wallet:security")


urlpatterns: list[URLPattern] = [
    path("security/", security_view, name="security"),
    path("security/sessions/end-others/", security_sessions_end_view, name="security_sessions_end"),
    path("security/devices/<int:pk>/revoke/", security_device_revoke_view, name="security_device_revoke"),
    path("security/app-sign-ins/<int:pk>/revoke/", security_token_revoke_view, name="security_token_revoke"),
]
