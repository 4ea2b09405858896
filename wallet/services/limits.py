"""Money limits (B01): per charge, per rolling day and 30 days for each customer,
and per rolling day across all customers.

The per-customer sums are read while the caller holds the customer's wallet row
lock, so two concurrent top-ups cannot both slip under a cap. The all-customer
total is an hourly Redis counter: summing a day of every customer's top-ups in
SQL on each request would not scale."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import LimitPolicy, Payment, TopUp, User
from .ledger import MoneyError

CARD_CHANNELS = (TopUp.Channel.CREDIT_CARD, TopUp.Channel.DEBIT_CARD)
CASH_CHANNELS = (TopUp.Channel.STORE_REGISTER, TopUp.Channel.ATM)
# Top-ups that count against a cap: everything not refused.
COUNTED_TOPUP_STATUSES = (TopUp.Status.PENDING, TopUp.Status.SUCCEEDED, TopUp.Status.HELD)


class LimitExceeded(MoneyError):
    code = "limit_exceeded"


def limit_kind_for_channel(channel: str) -> str:
    return "topup.card" if channel in CARD_CHANNELS else "topup.cash"


# The defaults from INCIDENT.md's industry guidance (card top-ups ¥20,000 a day, ¥50,000 in 30 days);
# migration 0004 writes the same rows, and analysts change them in the admin.
_LIMIT_FIELDS = ("per_charge_max_yen", "per_day_max_yen", "per_30_days_max_yen", "global_per_day_max_yen")
DEFAULT_LIMITS: dict[str, dict[str, int | None]] = {
    kind: dict(zip(_LIMIT_FIELDS, values, strict=True))
    for kind, values in {
        "topup.card": (20_000, 20_000, 50_000, 100_000_000),
        "topup.cash": (50_000, 100_000, 300_000, None),
        "payment": (50_000, 100_000, 500_000, None),
        "balance": (300_000, None, None, None),
    }.items()
}


def limit_policy(kind: str) -> LimitPolicy:
    """The policy row; a missing row (a wiped table) falls back to the defaults rather than to no limit."""
    policy, _created = LimitPolicy.objects.get_or_create(kind=kind, defaults=DEFAULT_LIMITS[kind])
    return policy


def balance_cap_yen() -> int:
    return limit_policy("balance").per_charge_max_yen


def _customer_totals(*, user: User, kind: str, now: datetime) -> tuple[int, int]:
    """What the customer used in the last day and the last 30 days, in one query."""
    if kind == "payment":
        rows: QuerySet[Any] = Payment.objects.filter(user=user)
    else:
        channels = CARD_CHANNELS if kind == "topup.card" else CASH_CHANNELS
        rows = TopUp.objects.filter(user=user, channel__in=channels, status__in=COUNTED_TOPUP_STATUSES)
    totals = rows.filter(created_at__gte=now - timedelta(days=30)).aggregate(
        day=Sum("amount_yen", filter=Q(created_at__gte=now - timedelta(days=1))), month=Sum("amount_yen")
    )
    return int(totals["day"] or 0), int(totals["month"] or 0)


def _global_key(kind: str, hour: int) -> str:
    return f"limits:global:{kind}:{hour}"


def _global_total(kind: str) -> int:
    hour = int(timezone.now().timestamp() // 3600)
    values = cache.get_many([_global_key(kind, h) for h in range(hour - 23, hour + 1)])
    return sum(int(v) for v in values.values())


def limits_check(*, user: User, kind: str, amount_yen: int) -> None:
    """Raise ``LimitExceeded`` with the cap the amount would break. Call under the wallet lock."""
    policy = limit_policy(kind)
    if amount_yen > policy.per_charge_max_yen:
        raise LimitExceeded(_("The most you can use at once is ¥%(cap)s.") % {"cap": f"{policy.per_charge_max_yen:,}"})
    day, month = _customer_totals(user=user, kind=kind, now=timezone.now())
    windows = [
        (policy.per_day_max_yen, day, _("Today's limit is ¥%(cap)s; ¥%(left)s is left.")),
        (policy.per_30_days_max_yen, month, _("The 30-day limit is ¥%(cap)s; ¥%(left)s is left.")),
    ]
    for cap, used, message in windows:
        if cap is not None and used + amount_yen > cap:
            raise LimitExceeded(message % {"cap": f"{cap:,}", "left": f"{max(cap - used, 0):,}"})
    if policy.global_per_day_max_yen is not None and _global_total(kind) + amount_yen > policy.global_per_day_max_yen:
        raise LimitExceeded(_("This service has reached its limit for today. Please try again later."))


def limits_record(*, kind: str, amount_yen: int) -> None:
    """Count a completed amount towards the all-customer total (called on commit)."""
    key = _global_key(kind, int(timezone.now().timestamp() // 3600))
    cache.add(key, 0, timeout=25 * 3600)
    try:
        cache.incr(key, amount_yen)
    except ValueError:  # expired between add and incr
        cache.set(key, amount_yen, timeout=25 * 3600)


def limits_summary(user: User) -> list[dict[str, object]]:
    """What a customer may still do today and this month, for the portal and the API."""
    now = timezone.now()
    summary: list[dict[str, object]] = []
    for policy in [limit_policy(kind) for kind in sorted(DEFAULT_LIMITS) if kind != "balance"]:
        day, month = _customer_totals(user=user, kind=policy.kind, now=now)
        summary.append(
            {
                "kind": policy.kind,
                "per_charge_max_yen": policy.per_charge_max_yen,
                "per_day_max_yen": policy.per_day_max_yen,
                "per_day_left_yen": None if policy.per_day_max_yen is None else max(policy.per_day_max_yen - day, 0),
                "per_30_days_max_yen": policy.per_30_days_max_yen,
                "per_30_days_left_yen": None if policy.per_30_days_max_yen is None else max(policy.per_30_days_max_yen - month, 0),
            }
        )
    return summary
