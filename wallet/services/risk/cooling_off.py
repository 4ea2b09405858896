"""The cooling-off after a late first second factor (A13), applied to every store payment.

It is not an analyst-tuned rule: whoever enrolled the account's first factor with a
password and a contact proof may be an attacker who also controls the phone, so for
``FIRST_FACTOR_COOLING_OFF`` the money leaving the wallet is capped at
``FIRST_FACTOR_COOLING_OFF_CAP_YEN`` in total; a payment beyond it is declined and
lands in the review queue with this reason.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Sum

from ...models import Payment, RiskEvent, RiskOutcome
from .facts import Subject

RULE_CODE = "first_factor_cooling_off"


def cooling_off_reasons(subject: Subject) -> list[dict[str, Any]]:
    user = subject.user
    if subject.event != RiskEvent.PAYMENT or user is None:
        return []
    until = user.factor_cooling_off_until
    if until is None or until <= subject.now:
        return []
    started = until - settings.FIRST_FACTOR_COOLING_OFF
    spent = Payment.objects.filter(user=user, created_at__gte=started).aggregate(total=Sum("amount_yen"))["total"] or 0
    cap = settings.FIRST_FACTOR_COOLING_OFF_CAP_YEN
    if spent + subject.amount_yen <= cap:
        detail = f"New second factor: cooling-off until {until:%Y-%m-%d %H:%M} UTC, ¥{spent + subject.amount_yen:,} of ¥{cap:,} used"
        return [{"rule": RULE_CODE, "version": 1, "action": RiskOutcome.ALLOW.value, "detail": detail}]
    detail = f"New second factor: cooling-off cap ¥{cap:,} exceeded (¥{spent:,} already paid, ¥{subject.amount_yen:,} asked)"
    return [{"rule": RULE_CODE, "version": 1, "action": RiskOutcome.REVIEW.value, "detail": detail}]
