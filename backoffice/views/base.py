"""What every incident page shares: the admin site's login and OTP check, a
permission check, and the admin layout's context."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse

from wallet.models import User

View = Callable[..., HttpResponseBase]


def staff_page(*permissions: str) -> Callable[[View], View]:
    """Refuse (403) a staff member who lacks any of ``permissions``.

    Login and a verified second factor are checked before this by the admin
    site's ``admin_view`` wrapper, which ``backoffice.incident_urls`` applies to
    every incident page.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.has_perms(permissions):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def acting_staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def staff_render(request: HttpRequest, template: str, context: dict[str, Any], *, title: str, status: int = 200) -> TemplateResponse:
    """Render inside the admin layout (header, breadcrumbs, the user's links)."""
    from ..admin_site import staff_admin_site

    full_context = {**staff_admin_site.each_context(request), "title": title, **context}
    return TemplateResponse(request, template, full_context, status=status)
