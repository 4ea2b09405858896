"""The customer portal's home: a landing page for visitors; for customers their
balance, top-ups still waiting, the last few transactions and their account status."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from ..models import User
from ..selectors import activity_for, topups_pending_for, wallet_balance, wallet_locks
from ..services.phone import phone_display
from ..services.second_factor import user_has_second_factor
from .money.display import ENTRY_RELATED, activity_rows, topup_source, yen

RECENT_ACTIVITY = 5


def _money(user: User) -> dict[str, Any]:
    pending = [
        {"topup": top, "amount": yen(top.amount_yen), "source": topup_source(top)}
        for top in topups_pending_for(user).select_related("card", "terminal__merchant")
    ]
    return {
        "balance": yen(wallet_balance(user)),
        "pending_topups": pending,
        "recent": activity_rows(list(activity_for(user).select_related(*ENTRY_RELATED)[:RECENT_ACTIVITY])),
        "debits_locked": wallet_locks(user)["debits_blocked"],
    }


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "wallet/portal/landing.html")
    user: User = request.user  # type: ignore[assignment]
    # Money is shown only to a session verified with the second factor (A05); others are asked to set one up.
    verified = user.is_verified()  # type: ignore[attr-defined]
    context = {
        "has_second_factor": user_has_second_factor(user),
        "phone": phone_display(user.phone) if user.phone else "",
        "verified": verified,
        **(_money(user) if verified else {}),
    }
    return render(request, "wallet/portal/home.html", context)


urlpatterns: list[URLPattern] = [path("", home, name="home")]
