"""Step-up for app top-ups (S04, B11).

The app asks for a fresh step-up before every card top-up, which is stricter than the
web's cumulative threshold; when that threshold (wallet.services.step_up_policy) is
reached too, the 403 says so, so the customer learns why splitting does not help.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.request import Request

from ..access import HasFreshStepUp
from ..services.step_up_policy import topup_step_up_required, topup_step_up_rule


def cumulative_step_up_refusal() -> str:
    # One translatable sentence pattern, so a language may order the two parts its own way.
    return _("%(rule)s POST a fresh code to /api/v1/auth/step-up/ first.") % {"rule": topup_step_up_rule()}


def _requested_amount_yen(request: Request) -> int | None:
    """The body's ``amount_yen`` if it looks like one; the serializer gives the real answer to anything else."""
    try:
        data = request.data
    except exceptions.ParseError:
        return None
    raw = data.get("amount_yen") if isinstance(data, dict) else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 12:
        return int(raw)
    return None


class HasFreshStepUpForTopUp(HasFreshStepUp):
    """The app asks for a fresh step-up before every card top-up (stricter than the web, whose
    threshold is cumulative, B11). When the cumulative rule applies too, the 403 says so.

    A permission rather than a check in the handler: a refusal here is not stored as the
    Idempotency-Key's answer, so the same request succeeds once the app has stepped up."""

    def has_permission(self, request: Request, view: object) -> bool:
        if super().has_permission(request, view):
            view.step_up_fresh = True  # type: ignore[attr-defined]  # decided once, here, and passed to the service
            return True
        amount = _requested_amount_yen(request) if request.user and request.user.is_authenticated else None
        if amount is not None and amount > 0 and topup_step_up_required(user=request.user, amount_yen=amount):  # type: ignore[arg-type]
            self.message = cumulative_step_up_refusal()
        return False
