"""The development gateway's hosted pages: card entry, 3-D Secure challenge, cancel.

They stand in for the acquirer's own site, so they know nothing of our customers
and need no login. Every view that receives card details hides the posted
fields and its locals from error reports (P01, P02).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from ...models import GatewaySession
from ..cards import dev_return_url
from .forms import CardForm, ChallengeForm
from .hosted import (
    card_submit,
    challenge_code,
    challenge_submit,
    security_code_attempts_left,
    session_cancel,
    session_for_page,
    session_state,
)
from .testcards import DEV_TEST_CARDS, WRONG_SECURITY_CODE


def _session_or_404(session_id: str) -> GatewaySession:
    session = session_for_page(session_id)
    if session is None:
        raise Http404("unknown gateway session")
    return session


def _back_to_merchant(session_id: str) -> HttpResponse:
    return HttpResponseRedirect(dev_return_url(GatewaySession.objects.get(session_id=session_id)))


@never_cache
@sensitive_post_parameters()
@sensitive_variables()
@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(session_id)
    state = session_state(session)
    if state == "finished":
        return _back_to_merchant(session_id)
    if state == "challenge":
        return redirect("devgateway:challenge", session_id)
    form = CardForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        exp_month, exp_year = form.cleaned_data["expiry"]
        outcome = card_submit(
            session_id=session_id,
            number=form.cleaned_data["number"],
            exp_month=exp_month,
            exp_year=exp_year,
            security_code=form.cleaned_data["security_code"],
        )
        if outcome.kind == "challenge":
            return redirect("devgateway:challenge", session_id)
        if outcome.kind == "finished":
            return _back_to_merchant(session_id)
        form.add_error(outcome.field, outcome.message)
        session.refresh_from_db()
    context = {
        "form": form,
        "session": session,
        "test_cards": DEV_TEST_CARDS,
        "wrong_security_code": WRONG_SECURITY_CODE,
        "attempts_left": security_code_attempts_left(session),
    }
    return render(request, "devgateway/pay.html", context, status=400 if form.is_bound else 200)


@never_cache
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def challenge(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(session_id)
    state = session_state(session)
    if state == "finished":
        return _back_to_merchant(session_id)
    if state == "open":
        return redirect("devgateway:pay", session_id)
    form = ChallengeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        challenge_submit(session_id=session_id, code=form.cleaned_data["code"])
        return _back_to_merchant(session_id)
    context = {"form": form, "session": session, "bank_app_code": challenge_code(session)}
    return render(request, "devgateway/challenge.html", context, status=400 if form.is_bound else 200)


@require_POST
def cancel(request: HttpRequest, session_id: str) -> HttpResponse:
    _session_or_404(session_id)
    session_cancel(session_id=session_id)
    return _back_to_merchant(session_id)
