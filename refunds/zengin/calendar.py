"""Bank business days: the only days a 総合振込 file may name as its transfer date.

Zengin settles on weekdays that are not national holidays, and banks also close
from 31 December to 3 January (not national holidays, so ``jpholiday`` alone misses them).
A file dated on a closed day is rejected by the bank, so batches pick the date here.
"""

from __future__ import annotations

from datetime import date, timedelta

import jpholiday

__all__ = ["is_bank_business_day", "next_bank_business_day"]

_YEAR_END_CLOSURE = frozenset({(12, 31), (1, 1), (1, 2), (1, 3)})
# The longest closure (year end plus a weekend and holidays) is well under this.
_MAX_CLOSED_RUN = 31


def is_bank_business_day(day: date) -> bool:
    """Whether banks settle transfers on ``day``."""
    if day.weekday() >= 5:
        return False
    if (day.month, day.day) in _YEAR_END_CLOSURE:
        return False
    return not jpholiday.is_holiday(day)


def next_bank_business_day(day: date, *, include_today: bool = True) -> date:
    """The first day on or after ``day`` (after it, if not ``include_today``) that banks settle.

    ``include_today=False`` is for cut-offs: once today's file deadline has passed,
    the earliest possible transfer date is the next business day.
    """
    candidate = day if include_today else day + timedelta(days=1)
    for _ in range(_MAX_CLOSED_RUN):
        if is_bank_business_day(candidate):
            return candidate
        candidate += timedelta(days=1)
    raise RuntimeError(f"no bank business day within {_MAX_CLOSED_RUN} days after {day.isoformat()}")  # pragma: no cover
