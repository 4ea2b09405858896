"""``/refund/``: the programme's public notice and dates, the customer's balance, and the two ways to claim."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from wallet.models import User
from wallet.selectors import wallet_balance

from ...models import RefundClaim
from .common import portal_render, programme_view


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    programme = programme_view()
    context: dict[str, Any] = {"programme": programme, "phase": programme.phase, "notice": programme.notice}
    user = request.user
    if user.is_authenticated and programme.programme is not None:
        # Money is shown only to a session verified with the second factor (A05), as on the home page.
        verified = bool(user.is_verified())  # type: ignore[union-attr]
        customer: User = user  # type: ignore[assignment]
        context["verified"] = verified
        if verified:
            context["balance"] = wallet_balance(customer)
            context["existing_claim"] = RefundClaim.objects.live_for(programme=programme.programme, customer=customer).first()
    return portal_render(request, "landing.html", context)
