"""Self-service lock: one button stops every debit at once; unlocking needs a fresh code.

Locking is deliberately easy (no step-up): a customer who sees a payment they did
not make must be able to stop the next one in seconds. Unlocking lifts only the
customer's own lock; a lock support set stays until support lifts it.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from ...access import second_factor_required, step_up_required
from ...models import User
from ...selectors import wallet_locks
from ...services.holds import wallet_lock, wallet_unlock
from ...services.ledger import MoneyError


@never_cache
@second_factor_required
@require_http_methods(["GET", "POST"])
def lock_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if request.method == "POST":
        try:
            wallet_lock(user=user, reason="Locked by the customer in the portal")
        except MoneyError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Your wallet is locked. No payment can be made from it until you unlock it."))
        return redirect("wallet:wallet_lock")
    return render(request, "wallet/money/lock.html", wallet_locks(user))


@never_cache
@step_up_required
@require_http_methods(["GET", "POST"])
def unlock_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if request.method == "POST":
        try:
            lifted = wallet_unlock(user=user)
        except MoneyError as exc:
            messages.error(request, exc.message)
            return redirect("wallet:wallet_unlock")
        state = wallet_locks(user)
        if state["locked_by_support"]:
            messages.warning(request, _("Your own lock is lifted, but support has also locked your wallet. Please contact support."))
        elif lifted:
            messages.success(request, _("Your wallet is unlocked. Payments work again."))
        else:
            messages.info(request, _("Your wallet was not locked."))
        return redirect("wallet:home")
    return render(request, "wallet/money/unlock.html", wallet_locks(user))
