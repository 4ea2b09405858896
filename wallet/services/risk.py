"""Synchronous risk scoring of logins, card registrations, top-ups and payments.

(Interim: records an ``allow`` decision; the rule engine replaces the body.)
"""

from __future__ import annotations

from ..models import RiskDecision, RiskOutcome, User
from ..request_meta import RequestMeta


def risk_assess(
    *,
    event: str,
    user: User | None,
    amount_yen: int = 0,
    channel: str = "",
    meta: RequestMeta | None = None,
    card_fingerprint: str = "",
    device_key: str = "",
) -> RiskDecision:
    return RiskDecision.objects.create(
        event=event,
        outcome=RiskOutcome.ALLOW,
        user=user,
        amount_yen=amount_yen,
        channel=channel,
        ip_address=meta.ip if meta else None,
        card_fingerprint=card_fingerprint,
        device_key=device_key,
    )


def risk_record(*, decision: RiskDecision) -> None:
    """Count the event in the velocity windows once the money has moved."""
