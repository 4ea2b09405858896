"""The payment code a customer shows at the register: single-use, bound to the wallet,
valid for a few minutes (settings.PAYMENT_CODE_TTL).

Opening the page issues a new code, which also retires the previous one; the script
asks /pay/code/new/ for the next code shortly before this one expires. Only a digest
of the code is stored, and neither response may be cached.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from ...access import second_factor_required
from ...models import User
from ...selectors import wallet_locks
from ...services.ledger import MoneyError, freeze_refusal
from ...services.payments import IssuedPaymentCode, payment_code_issue
from ...switches import ChannelDisabled
from .display import barcode_data_uri, code_display, qr_data_uri


def code_payload(issued: IssuedPaymentCode) -> dict[str, Any]:
    expires_at = timezone.localtime(issued.expires_at)
    return {
        "code": code_display(issued.code),
        "qr": qr_data_uri(issued.code),
        "barcode": barcode_data_uri(issued.code),
        "expires_at": expires_at.isoformat(),
        "expires_at_display": expires_at.strftime("%H:%M:%S"),
        # Relative, so a phone whose clock is wrong still counts down correctly.
        "expires_in": max(int((issued.expires_at - timezone.now()).total_seconds()), 0),
    }


def _issue(user: User) -> tuple[dict[str, Any] | None, str]:
    """A new code as shown, or why there is none. A locked wallet gets no code: it could not pay."""
    if freeze_refusal(user=user, debit=True) is not None:
        return None, _("Your wallet is locked, so it cannot pay and no code is shown.")
    try:
        return code_payload(payment_code_issue(user=user)), ""
    except (MoneyError, ChannelDisabled) as exc:
        return None, exc.message


@never_cache
@second_factor_required
@require_GET
def pay_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    payload, refusal = _issue(user)
    return render(request, "wallet/money/pay.html", {"payload": payload, "refusal": refusal, **wallet_locks(user)})


@never_cache
@second_factor_required
@require_POST
def pay_code_new(request: HttpRequest) -> JsonResponse:
    user: User = request.user  # type: ignore[assignment]
    payload, refusal = _issue(user)
    if payload is None:
        return JsonResponse({"error": refusal or _("No payment code can be shown now.")}, status=409)
    return JsonResponse(payload)
