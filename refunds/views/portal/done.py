"""The page after "Submit my claim", on both routes: the claim's number and what happens next."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from wallet.access import second_factor_required

from ...models import RefundClaim
from .claim import CONTACT, CONTACT_DONE_KEY, LOGIN
from .common import STATE_EXPLANATIONS, portal_render


def _done(request: HttpRequest, claim: RefundClaim, route: str) -> HttpResponse:
    context = {
        "claim": claim,
        "route": route,
        "contact_route": route == CONTACT,
        "explanation": STATE_EXPLANATIONS.get(claim.state, ""),
    }
    return portal_render(request, "claim_done.html", context)


@never_cache
@second_factor_required
@require_GET
def claim_done(request: HttpRequest, number: str) -> HttpResponse:
    # B08: only the customer's own claim; anyone else's number is a 404.
    claim = get_object_or_404(RefundClaim, number=number, customer=request.user)
    return _done(request, claim, LOGIN)


@never_cache
@require_GET
def contact_claim_done(request: HttpRequest) -> HttpResponse:
    number = request.session.get(CONTACT_DONE_KEY)
    if not number:
        return HttpResponseRedirect(reverse("refunds:status"))
    return _done(request, get_object_or_404(RefundClaim, number=number), CONTACT)
