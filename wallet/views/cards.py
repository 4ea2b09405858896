"""The customer's cards: list, add through the gateway's hosted page (S04), remove."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from ..access import second_factor_required, step_up_required
from ..models import Card, CardRegistration, User
from ..request_meta import RequestMeta
from ..selectors import cards_active_for
from ..services.cards import (
    CardRegistrationFailed,
    CardRegistrationUnfinished,
    card_registration_complete,
    card_registration_start,
    card_remove,
)
from ..services.ledger import MoneyError
from ..switches import ChannelDisabled


@second_factor_required
def cards_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    cards = cards_active_for(user)
    return render(request, "wallet/cards/list.html", {"cards": cards})


@step_up_required
@require_http_methods(["GET", "POST"])
def card_add(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "wallet/cards/add.html")
    user: User = request.user  # type: ignore[assignment]
    return_url = request.build_absolute_uri(reverse("wallet:card_return", args=[UUID(int=0)])).replace(str(UUID(int=0)), "{registration}")
    try:
        started = card_registration_start(user=user, return_url=return_url, meta=RequestMeta.from_request(request))
    except ChannelDisabled as exc:
        return render(request, "wallet/cards/add.html", {"refusal": exc.message}, status=503)
    except MoneyError as exc:
        return render(request, "wallet/cards/add.html", {"refusal": exc.message}, status=exc.http_status)
    return redirect(started.redirect_url)


@second_factor_required
def card_return(request: HttpRequest, registration_id: UUID) -> HttpResponse:
    """Where the gateway sends the customer back. The fresh step-up was checked when the
    registration started; a slow typist is not sent through it again here."""
    user: User = request.user  # type: ignore[assignment]
    try:
        card = card_registration_complete(user=user, registration_public_id=registration_id, meta=RequestMeta.from_request(request))
    except CardRegistration.DoesNotExist as exc:
        raise Http404("no such card registration") from exc
    except ChannelDisabled as exc:
        return render(request, "wallet/cards/return.html", {"refusal": exc.message}, status=503)
    except CardRegistrationUnfinished as exc:
        return render(request, "wallet/cards/return.html", {"refusal": exc.message, "unfinished": True}, status=409)
    except CardRegistrationFailed as exc:
        return render(request, "wallet/cards/return.html", {"refusal": exc.message, "failure_code": exc.failure_code}, status=400)
    except MoneyError as exc:
        return render(request, "wallet/cards/return.html", {"refusal": exc.message}, status=exc.http_status)
    messages.success(request, _("Your %(brand)s card ending in %(last4)s was added.") % {"brand": card.brand.upper(), "last4": card.last4})
    return redirect("wallet:cards")


@step_up_required
@require_http_methods(["GET", "POST"])
def card_remove_view(request: HttpRequest, card_id: int) -> HttpResponse:
    """GET asks to confirm (and is where the step-up page sends the customer back); POST removes."""
    card = get_object_or_404(Card, pk=card_id, user=request.user, status=Card.Status.ACTIVE)
    if request.method != "POST":
        return render(request, "wallet/cards/remove.html", {"card": card})
    card_remove(user=request.user, card=card)  # type: ignore[arg-type]
    messages.success(request, _("The %(brand)s card ending in %(last4)s was removed.") % {"brand": card.brand.upper(), "last4": card.last4})
    return redirect("wallet:cards")


urlpatterns: list[URLPattern] = [
    path("cards/", cards_list, name="cards"),
    path("cards/add/", card_add, name="card_add"),
    path("cards/return/<uuid:registration_id>/", card_return, name="card_return"),
    path("cards/<int:card_id>/remove/", card_remove_view, name="card_remove"),
]
