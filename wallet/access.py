"""Guards the later issues use before money moves (A05) and before sensitive changes (S04).

- ``second_factor_required`` / ``SecondFactorRequiredMixin``: a logged-in user whose
  session was verified with a second factor. Users without one are sent to enrol.
- ``step_up_required`` / ``StepUpRequiredMixin``: additionally a fresh code within
  ``STEP_UP_MAX_AGE`` (or the given age); otherwise the step-up page, then back.
- ``HasVerifiedSecondFactor`` / ``HasFreshStepUp``: the same for the API token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .services.second_factor import step_up_is_fresh, user_has_second_factor

View = TypeVar("View", bound=Callable[..., HttpResponse])


def url_with_next(url_name: str, next_url: str | None) -> str:
    """The named page, told where to send the user afterwards."""
    url = reverse(url_name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _second_factor_redirect(request: HttpRequest) -> HttpResponse | None:
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if user.is_verified():  # type: ignore[union-attr]  # AnonymousUser returned above
        return None
    if not user_has_second_factor(user):  # type: ignore[arg-type]
        return HttpResponseRedirect(url_with_next("wallet:totp_enrol", request.get_full_path()))
    return HttpResponseRedirect(url_with_next("wallet:login_otp", request.get_full_path()))


def second_factor_required(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _second_factor_redirect(request) or view(request, *args, **kwargs)

    return wrapped  # type: ignore[return-value]


def step_up_required(view: View | None = None, *, max_age: timedelta | None = None) -> Any:
    def decorate(inner: View) -> View:
        @wraps(inner)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            blocked = _second_factor_redirect(request)
            if blocked is not None:
                return blocked
            if not step_up_is_fresh(request, max_age):
                return HttpResponseRedirect(url_with_next("wallet:step_up", request.get_full_path()))
            return inner(request, *args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


class SecondFactorRequiredMixin:
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _second_factor_redirect(request) or super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class StepUpRequiredMixin:
    step_up_max_age: timedelta | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        blocked = _second_factor_redirect(request)
        if blocked is not None:
            return blocked
        if not step_up_is_fresh(request, self.step_up_max_age):
            return HttpResponseRedirect(url_with_next("wallet:step_up", request.get_full_path()))
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class HasVerifiedSecondFactor(BasePermission):
    message = "A verified second factor is required. Enrol an authenticator and sign in again."

    def has_permission(self, request: Request, view: object) -> bool:
        token = getattr(request, "auth", None)
        return bool(request.user and request.user.is_authenticated and getattr(token, "second_factor_at", None))


class HasFreshStepUp(HasVerifiedSecondFactor):
    message = "A fresh second-factor code is required: POST one to /api/v1/auth/step-up/ first."
    max_age: timedelta | None = None

    def has_permission(self, request: Request, view: object) -> bool:
        if not super().has_permission(request, view):
            return False
        stepped = getattr(request.auth, "step_up_at", None)
        limit = self.max_age or settings.STEP_UP_MAX_AGE
        return bool(stepped and timezone.now() - stepped <= limit)
