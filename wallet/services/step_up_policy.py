"""When a top-up needs a fresh second factor (S04, B11): the one place that decides.

A per-charge threshold is avoided by splitting: two ¥9,999 top-ups instead of one
¥19,998 (the 7pay attackers drained cards in many small charges). So the threshold
is cumulative: a top-up needs a fresh step-up when it and the customer's other
top-ups of the last ``TOPUP_STEP_UP_WINDOW_HOURS`` reach ``TOPUP_STEP_UP_FROM_YEN``
together. Every channel counts (card top-ups from the web and from the app, cash at
a register or an ATM), pending and held ones too, since the money is on its way or
already taken; declined and failed ones do not, since no money moved.

The web page and the API ask ``topup_step_up_required`` to explain themselves; the
top-up service enforces ``topup_step_up_check`` itself, so no caller can skip it.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import TopUp, User
from .ledger import MoneyError, wallet_locked_for

# Top-ups that never moved money do not count towards the threshold.
NOT_COUNTED = (TopUp.Status.DECLINED, TopUp.Status.FAILED)


class StepUpRequired(MoneyError):
    code = "step_up_required"
    default_message = _("Confirm it is you with a new code from your authenticator app, then try again.")
    http_status = 403


def topup_step_up_window() -> timedelta:
    return timedelta(hours=settings.TOPUP_STEP_UP_WINDOW_HOURS)


def topups_in_step_up_window_yen(*, user: User) -> int:
    """What the customer topped up in the rolling window, every channel, not counting declined or failed top-ups."""
    since = timezone.now() - topup_step_up_window()
    total = TopUp.objects.filter(user=user, created_at__gt=since).exclude(status__in=NOT_COUNTED).aggregate(total=Sum("amount_yen"))
    return int(total["total"] or 0)


def topup_step_up_required(*, user: User, amount_yen: int) -> bool:
    """Whether a top-up of ``amount_yen`` needs a fresh step-up, whoever is asking (web, API, a service)."""
    return topups_in_step_up_window_yen(user=user) + amount_yen >= settings.TOPUP_STEP_UP_FROM_YEN


def topup_step_up_rule() -> str:
    """The rule in words, for the page that asks for a code and for the API's refusal."""
    hours = settings.TOPUP_STEP_UP_WINDOW_HOURS
    return ngettext(
        "Top-ups of ¥%(amount)s or more in %(hours)s hour, added together, need a fresh code from your authenticator app.",
        "Top-ups of ¥%(amount)s or more in %(hours)s hours, added together, need a fresh code from your authenticator app.",
        hours,
    ) % {"amount": f"{settings.TOPUP_STEP_UP_FROM_YEN:,}", "hours": hours}


def topup_step_up_check(*, user: User, amount_yen: int, step_up_fresh: bool) -> None:
    """Refuse (``StepUpRequired``) a top-up that needs a fresh step-up the caller did not have.

    Call inside the transaction that records the top-up: without a fresh step-up it
    locks the customer's wallet first, so two top-ups sent at once cannot both count
    the window without the other and slip under the threshold together.
    """
    if step_up_fresh:
        return
    wallet_locked_for(user)
    if topup_step_up_required(user=user, amount_yen=amount_yen):
        raise StepUpRequired(f"{topup_step_up_rule()} {StepUpRequired.default_message}")
