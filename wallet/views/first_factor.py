"""Proving a contact on record before a first second factor (A13), the same proof as
the recovery path of the code throttle (A15), and the owner's "this was not me" link."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from ..access import url_with_next
from ..forms.auth import ContactCodeForm
from ..models import User
from ..request_meta import RequestMeta
from ..services.first_factor import (
    FirstFactorRefused,
    contact_proof_email_read,
    contact_proof_email_send,
    contact_proof_email_use,
    contact_proof_sms_send,
    contact_proof_sms_verify,
    not_me_read,
    not_me_report,
    session_contact_proof_mark,
)
from ..services.phone import phone_display
from ..services.second_factor import user_has_second_factor
from .auth import pending_user, staff_refused

SMS_SENT = "_anzen_contact_sms_sent"


def _proof_subject(request: HttpRequest) -> tuple[User | None, bool]:
    """The account a proof is for: the logged-in customer, or the one whose login waits
    for its code (the recovery path). The flag says which."""
    if request.user.is_authenticated and isinstance(request.user, User):
        return request.user, False
    waiting = pending_user(request)
    return waiting, waiting is not None


def _masked_email(email: str) -> str:
    local, _at, domain = email.partition("@")
    return f"{local[:2]}{'•' * max(len(local) - 2, 1)}@{domain}"


def _after_proof(request: HttpRequest, *, recovering: bool, next_url: str) -> HttpResponse:
    if recovering:
        messages.success(request, _("Thank you. Now enter the code from your authenticator app or a backup code."))
        return redirect("wallet:login_otp")
    messages.success(request, _("Thank you, it is you. Now set up your authenticator app."))
    safe_next = next_url if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}) else ""
    return HttpResponseRedirect(url_with_next("wallet:totp_enrol", safe_next or None))


@never_cache
@require_http_methods(["GET", "POST"])
def contact_proof_view(request: HttpRequest) -> HttpResponse:
    user, recovering = _proof_subject(request)
    if user is None:
        return redirect("wallet:login")
    if user.is_staff:
        return staff_refused(request)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not recovering and user_has_second_factor(user):
        return redirect("wallet:security")
    meta = RequestMeta.from_request(request)
    form = ContactCodeForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "sms_send":
                contact_proof_sms_send(user=user, meta=meta)
                request.session[SMS_SENT] = user.pk
                messages.success(request, _("We sent a 6-digit code by SMS to %(phone)s.") % {"phone": phone_display(user.phone)})
                return HttpResponseRedirect(url_with_next("wallet:contact_proof", next_url or None))
            if action == "email_send":
                contact_proof_email_send(user=user, meta=meta)
                return render(request, "wallet/auth/contact_proof_email_sent.html", {"email": _masked_email(user.email)})
            if action == "sms_verify":
                form = ContactCodeForm(request.POST)
                if form.is_valid():
                    proven = contact_proof_sms_verify(user=user, code=form.cleaned_data["code"], meta=meta)
                    if proven is not None:
                        session_contact_proof_mark(request, user=user, proven=proven)
                        request.session.pop(SMS_SENT, None)
                        return _after_proof(request, recovering=recovering, next_url=next_url)
                    form.add_error("code", _("That code is not right, or it has expired or been used. Ask for a new code."))
                status = 400
        except FirstFactorRefused as refused:
            messages.error(request, refused.message)
            status = 400
    context: dict[str, Any] = {
        "form": form,
        "next": next_url,
        "recovering": recovering,
        "phone": phone_display(user.phone) if user.phone and user.phone_verified_at else "",
        "email": _masked_email(user.email),
        "sms_sent": request.session.get(SMS_SENT) == user.pk,
    }
    return render(request, "wallet/auth/contact_proof.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def contact_proof_link_view(request: HttpRequest, token: str) -> HttpResponse:
    # A GET only shows a button: mail scanners that open links must not use them up.
    proof = contact_proof_email_read(token)
    if proof is None:
        return render(request, "wallet/auth/contact_proof_link_invalid.html", status=400)
    user, recovering = _proof_subject(request)
    if user is None or user.pk != proof.user_id:
        if request.user.is_authenticated:
            # Another account is signed in here: the link proves nothing for it.
            logout(request)
        messages.info(request, _("Sign in with your email and password first, then open the link from the email again."))
        return redirect(url_with_next("wallet:login", request.path))
    if request.method == "POST":
        proven = contact_proof_email_use(proof=proof, user=user, meta=RequestMeta.from_request(request))
        if proven is None:
            return render(request, "wallet/auth/contact_proof_link_invalid.html", status=400)
        session_contact_proof_mark(request, user=user, proven=proven)
        return _after_proof(request, recovering=recovering, next_url="")
    return render(request, "wallet/auth/contact_proof_link.html", {"token": token})


@never_cache
@require_http_methods(["GET", "POST"])
def first_factor_not_me_view(request: HttpRequest, token: str) -> HttpResponse:
    claim = not_me_read(token)
    if claim is None:
        return render(request, "wallet/auth/not_me_invalid.html", status=400)
    if request.method == "POST":
        not_me_report(claim=claim, meta=RequestMeta.from_request(request))
        if request.user.is_authenticated:
            logout(request)
        return render(request, "wallet/auth/not_me_done.html")
    return render(request, "wallet/auth/not_me_confirm.html", {"token": token})


urlpatterns: list[URLPattern] = [
    path("security/confirm-contact/", contact_proof_view, name="contact_proof"),
    path("security/confirm-contact/<str:token>/", contact_proof_link_view, name="contact_proof_link"),
    path("security/not-me/<str:token>/", first_factor_not_me_view, name="first_factor_not_me"),
]
