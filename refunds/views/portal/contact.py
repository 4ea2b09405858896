"""The no-login route's pages: the contact details form, "check your email", the mailed link
and the SMS code. R01/R05/A12: the page after the form is the same whatever the details
matched, and only the email address and phone number on record ever receive anything."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from wallet.request_meta import RequestMeta

from ...forms.contact import ContactRequestForm, PhoneCodeForm
from ...models import CONTACT_CODE_ATTEMPTS_MAX, CONTACT_PROOF_LIFETIME
from ...services.contact import (
    CodeOutcome,
    LinkOutcome,
    contact_code_verify,
    contact_link_open,
    contact_proof_current,
    contact_proof_request,
)
from .claim import CONTACT_DONE_KEY, CONTACT_STATED_KEY
from .common import (
    CODE_RATE_PER_IP,
    Phase,
    browser_digest,
    browser_digest_if_any,
    ip_limited,
    portal_render,
    programme_view,
    too_many,
    value_limited,
)

# Where a complete proof leads: the claim steps, or the correction of a returned claim.
CONTACT_NEXT_KEY = "refund_contact_next"
PURPOSE_CLAIM = "claim"
PURPOSE_CORRECT = "correct"


def _next_url(request: HttpRequest) -> str:
    allowed = {reverse("refunds:contact_claim_balance"), reverse("refunds:status_view_correct")}
    wanted = str(request.session.get(CONTACT_NEXT_KEY, ""))
    return wanted if wanted in allowed else reverse("refunds:contact_claim_balance")


def _minutes() -> int:
    return int(CONTACT_PROOF_LIFETIME.total_seconds() // 60)


@never_cache
@require_http_methods(["GET", "POST"])
def contact_request(request: HttpRequest) -> HttpResponse:
    programme = programme_view()
    if programme.phase != Phase.OPEN:
        return portal_render(request, "contact_closed.html", {"programme": programme})
    if request.method == "POST":
        if ip_limited(request, "refunds.contact.ip"):
            return too_many(request)
        form = ContactRequestForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            # Counted for every address typed, known or not; a spent limit answers the same and sends nothing.
            email_limited = value_limited(request, "refunds.contact.email", data["email"])
            digest = browser_digest(request)
            request.session[CONTACT_STATED_KEY] = {"name": data["full_name"], "birth_date": data["birth_date"].isoformat()}
            request.session[CONTACT_NEXT_KEY] = reverse("refunds:contact_claim_balance")
            request.session.pop(CONTACT_DONE_KEY, None)
            contact_proof_request(
                email=data["email"],
                phone=data["phone"],
                session_digest=digest,
                meta=RequestMeta.from_request(request),
                send=not email_limited,
            )
            return redirect("refunds:contact_sent")
        status = 400
    else:
        form = ContactRequestForm()
        status = 200
    return portal_render(request, "contact_request.html", {"form": form, "programme": programme}, status=status)


@never_cache
@require_GET
def contact_sent(request: HttpRequest) -> HttpResponse:
    purpose = PURPOSE_CORRECT if _next_url(request) == reverse("refunds:status_view_correct") else PURPOSE_CLAIM
    return portal_render(request, "contact_sent.html", {"purpose": purpose, "minutes": _minutes()})


@never_cache
@require_GET
def contact_link(request: HttpRequest, proof_id: int, token: str) -> HttpResponse:
    outcome = contact_link_open(proof_id=proof_id, token=token, session_digest=browser_digest_if_any(request))
    if outcome == LinkOutcome.PROVED:
        # The token leaves the address bar at once (and so the browser history).
        return redirect("refunds:contact_code")
    if outcome == LinkOutcome.OTHER_BROWSER:
        return portal_render(request, "contact_other_browser.html", status=400)
    return portal_render(request, "contact_invalid.html", {"reason": outcome.value}, status=400)


@never_cache
@require_http_methods(["GET", "POST"])
def contact_code(request: HttpRequest) -> HttpResponse:
    digest = browser_digest_if_any(request)
    proof = contact_proof_current(session_digest=digest) if digest else None
    if proof is None:
        return portal_render(request, "contact_invalid.html", {"reason": "expired"}, status=400)
    if proof.email_proved_at is None:
        messages.info(request, _("First open the link in the email we sent, in this browser."))
        return redirect("refunds:contact_sent")
    if proof.is_complete:
        return redirect(_next_url(request))
    form = PhoneCodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if ip_limited(request, "refunds.contact.code.ip", CODE_RATE_PER_IP):
            return too_many(request)
        if form.is_valid():
            result = contact_code_verify(proof_id=proof.pk, session_digest=digest, code=form.cleaned_data["code"])
            if result.outcome == CodeOutcome.PROVED:
                messages.success(request, _("Thank you: your email address and phone number are confirmed."))
                return redirect(_next_url(request))
            if result.outcome == CodeOutcome.EXHAUSTED:
                return portal_render(request, "contact_invalid.html", {"reason": "exhausted"}, status=400)
            if result.outcome == CodeOutcome.EXPIRED:
                return portal_render(request, "contact_invalid.html", {"reason": "expired"}, status=400)
            form.add_error(
                "code",
                ngettext(
                    "That code is not right. You can try %(left)s more time.",
                    "That code is not right. You can try %(left)s more times.",
                    result.attempts_left,
                )
                % {"left": result.attempts_left},
            )
        status = 400
    context = {"form": form, "minutes": _minutes(), "attempts_max": CONTACT_CODE_ATTEMPTS_MAX}
    return portal_render(request, "contact_code.html", context, status=status)
