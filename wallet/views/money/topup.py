"""Topping up the wallet from a registered card, and the page that says how it went.

Whether a top-up needs a fresh code is decided by the top-up service (the rolling
total of wallet.services.step_up_policy, B11): the view passes on whether this
session stepped up, and sends the customer to the step-up page, saying why, when
the service asks for one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from ...access import second_factor_required, url_with_next
from ...forms.money import TopUpForm
from ...models import Card, TopUp, User
from ...request_meta import RequestMeta
from ...selectors import cards_active_for
from ...services.ledger import MoneyError, freeze_refusal
from ...services.limits import balance_cap_yen, limits_summary
from ...services.second_factor import step_up_is_fresh
from ...services.step_up_policy import StepUpRequired, topup_step_up_rule, topups_in_step_up_window_yen
from ...services.topups import topup_card
from ...switches import ChannelDisabled
from .display import topup_source, yen


def _limit_rows(user: User) -> list[dict[str, str]]:
    """The card top-up caps and what is left of them, as the form shows them."""
    for row in limits_summary(user):
        if row["kind"] != "topup.card":
            continue
        shown = {"per_charge": yen(int(row["per_charge_max_yen"]))}  # type: ignore[call-overload]
        for window in ("per_day", "per_30_days"):
            cap, left = row[f"{window}_max_yen"], row[f"{window}_left_yen"]
            if cap is not None:
                shown[window] = yen(int(cap))  # type: ignore[call-overload]
                shown[f"{window}_left"] = yen(int(left))  # type: ignore[call-overload]
        return [shown]
    return []


def _initial_from_query(request: HttpRequest, cards: QuerySet[Card]) -> dict[str, Any]:
    """After step-up the customer comes back to the form filled in as they left it."""
    initial: dict[str, Any] = {}
    card_id, amount = request.GET.get("card", ""), request.GET.get("amount", "")
    if card_id.isdigit() and cards.filter(pk=int(card_id)).exists():
        initial["card"] = int(card_id)
    if amount.isdigit() and len(amount) <= 9:
        initial["amount"] = amount
    return initial


def _topup_form(*args: Any, cards: QuerySet[Card], **kwargs: Any) -> TopUpForm:
    """The form, its amount explained by the cumulative step-up rule (B11)."""
    form = TopUpForm(*args, cards=cards, **kwargs)
    form.fields["amount"].help_text = topup_step_up_rule()
    return form


@never_cache
@second_factor_required
@require_http_methods(["GET", "POST"])
def topup_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    cards = cards_active_for(user)
    status = 200
    back_from_step_up = False
    if request.method == "POST":
        form = _topup_form(request.POST, cards=cards)
        if form.is_valid():
            card: Card = form.cleaned_data["card"]
            amount: int = form.cleaned_data["amount"]
            try:
                top = topup_card(
                    user=user,
                    card=card,
                    amount_yen=amount,
                    idempotency_key=f"web-topup:{form.cleaned_data['attempt']}",
                    meta=RequestMeta.from_request(request),
                    step_up_fresh=step_up_is_fresh(request),
                )
            except StepUpRequired:
                # Nothing was recorded: confirm with a code, then come back to the form filled in.
                messages.info(request, topup_step_up_rule())
                back = f"{reverse('wallet:topup')}?{urlencode({'card': card.pk, 'amount': amount})}"
                return redirect(url_with_next("wallet:step_up", back))
            except (MoneyError, ChannelDisabled) as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("wallet:topup_result", public_id=top.public_id)
        status = 400
    else:
        initial = _initial_from_query(request, cards)
        back_from_step_up = "amount" in initial and step_up_is_fresh(request)
        form = _topup_form(initial=initial, cards=cards)
    window_total = topups_in_step_up_window_yen(user=user)
    context = {
        "form": form,
        "has_cards": cards.exists(),
        "back_from_step_up": back_from_step_up,
        "window_total": yen(window_total) if window_total else "",
        "window_hours": settings.TOPUP_STEP_UP_WINDOW_HOURS,
        "limits": _limit_rows(user),
        "balance_cap": yen(balance_cap_yen()),
        "locked": freeze_refusal(user=user, debit=False) is not None,
    }
    return render(request, "wallet/money/topup.html", context, status=status)


@never_cache
@second_factor_required
@require_GET
def topup_result(request: HttpRequest, public_id: UUID) -> HttpResponse:
    top = get_object_or_404(TopUp.objects.select_related("card", "transfer", "terminal__merchant"), public_id=public_id, user=request.user)
    context = {"topup": top, "amount": yen(top.amount_yen), "source": topup_source(top)}
    return render(request, "wallet/money/topup_result.html", context)
