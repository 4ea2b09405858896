"""The staff admin: django-otp's ``OTPAdminSite``, so no admin page opens without a
verified second factor (A05). Staff sessions have shorter idle and absolute
limits (S05, ``SessionTimeoutMiddleware``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.models import Device

from wallet.middleware import session_mark_login
from wallet.models import AuthEvent, User
from wallet.request_meta import RequestMeta
from wallet.services.auth_events import auth_event_record
from wallet.services.second_factor import second_factor_verify


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Email, password (``authenticate``, so django-axes counts failures) and a code.

    The code is checked by ``second_factor_verify`` against every confirmed device
    of the account, each row locked, so a code works once (A06) and every attempt
    is in the authentication log (L01). No device picker is needed.
    """

    otp_token = forms.CharField(
        label=_("Code from your authenticator app"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "token_required": _("Enter the code from your authenticator app."),
        "invalid_token": _("The code is not valid. Wait for a new code and try again."),
    }

    def _verify_token(self, user: Any, token: str, device: Device | None = None) -> Device:
        request: HttpRequest | None = self.request
        meta = RequestMeta.from_request(request) if request is not None else RequestMeta(ip=None, user_agent="")
        verified = second_factor_verify(user=user, code=token, meta=meta, purpose="staff_login")
        if verified is None:
            raise forms.ValidationError(self.otp_error_messages["invalid_token"], code="invalid_token")
        return verified

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if getattr(user, "status", User.Status.ACTIVE) != User.Status.ACTIVE:
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login", params={"username": "email"})


class StaffAdminSite(OTPAdminSite):
    """The Django admin behind django-otp: no page without a verified second factor (A05)."""

    site_header = _("AnzenPay back-office")
    site_title = _("AnzenPay back-office")
    index_title = _("Operations")
    login_form = StaffLoginForm
    login_template = "admin/staff_login.html"
    # The customer site is a different audience; staff go back to the admin index.
    site_url = None  # type: ignore[assignment]

    def get_urls(self) -> list[URLPattern | URLResolver]:
        from .incident_urls import incident_urlpatterns

        incident = incident_urlpatterns(self.admin_view)
        return [path("incident/", include(incident)), *super().get_urls()]

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Django's admin login, plus the session clocks (S05) and the login event (L01)."""
        was_verified = request.user.is_authenticated and request.user.is_verified()
        response = super().login(request, extra_context)
        user = request.user
        if request.method == "POST" and not was_verified and isinstance(user, User) and getattr(user, "otp_device", None) is not None:
            session_mark_login(request)
            auth_event_record(
                kind=AuthEvent.Kind.LOGIN_SUCCEEDED, meta=RequestMeta.from_request(request), user=user, detail={"site": "staff_admin"}
            )
        return response


staff_admin_site = StaffAdminSite(name="admin")
# Bulk deletion bypasses per-object checks and the audit hooks: never offered.
staff_admin_site.disable_action("delete_selected")
