"""Bank business days: weekends, national holidays (jpholiday) and the 12-31 to 01-03 closure."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refunds.zengin.calendar import is_bank_business_day, next_bank_business_day


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 11, 4), True),  # Wednesday
        (date(2026, 11, 6), True),  # Friday
        (date(2026, 11, 7), False),  # Saturday
        (date(2026, 11, 8), False),  # Sunday
        (date(2026, 11, 3), False),  # 文化の日, a Tuesday
        (date(2026, 5, 6), False),  # 振替休日 for 憲法記念日 on a Sunday
        (date(2026, 9, 22), False),  # 国民の休日 between two holidays
        (date(2026, 12, 30), True),  # the last business day of the year
        (date(2026, 12, 31), False),  # banks close, though it is no national holiday
        (date(2027, 1, 1), False),
        (date(2027, 1, 2), False),
        (date(2027, 1, 3), False),
        (date(2028, 1, 3), False),  # a Monday, still closed
        (date(2028, 1, 4), True),
        (date(2027, 1, 4), True),
    ],
)
def test_is_bank_business_day(day: date, open_: bool) -> None:
    assert is_bank_business_day(day) is open_


@pytest.mark.parametrize(
    ("day", "include_today", "expected"),
    [
        (date(2026, 11, 4), True, date(2026, 11, 4)),
        (date(2026, 11, 4), False, date(2026, 11, 5)),
        (date(2026, 11, 7), True, date(2026, 11, 9)),  # weekend to Monday
        (date(2026, 11, 2), False, date(2026, 11, 4)),  # over 文化の日
        (date(2026, 12, 30), True, date(2026, 12, 30)),
        (date(2026, 12, 30), False, date(2027, 1, 4)),  # across the new year closure and a weekend
        (date(2026, 12, 31), True, date(2027, 1, 4)),
        (date(2027, 12, 30), False, date(2028, 1, 4)),  # 01-03 is a Monday, and closed
        (date(2026, 5, 1), False, date(2026, 5, 7)),  # Golden Week
    ],
)
def test_next_bank_business_day(day: date, include_today: bool, expected: date) -> None:
    assert next_bank_business_day(day, include_today=include_today) == expected


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)), st.booleans())
def test_the_next_business_day_is_the_first_open_day_from_the_start(day: date, include_today: bool) -> None:
    found = next_bank_business_day(day, include_today=include_today)
    start = day if include_today else day + timedelta(days=1)

    assert found >= start
    assert is_bank_business_day(found)
    assert not any(is_bank_business_day(start + timedelta(days=offset)) for offset in range((found - start).days))
