"""Yen as people read them, in one place: ``¥12,345``, ``-¥500``.

Used by the ``yen`` template filter and by every piece of Python that writes an amount
for a person (admin columns, messages, risk reasons, chart labels). Amounts are integer
yen (ARCHITECTURE.md, Money); the grouping is the same in Japanese and English."""

from __future__ import annotations

MISSING = "—"


def yen_text(amount: int | None) -> str:
    """``¥1,200``; a negative amount is ``-¥1,200``; no amount is a dash."""
    if amount is None:
        return MISSING
    value = int(amount)
    return f"-¥{-value:,}" if value < 0 else f"¥{value:,}"


def yen_signed_text(amount: int) -> str:
    """As ``yen_text``, with a plus sign on money coming in: ``+¥5,000``, ``-¥1,200``."""
    return f"+{yen_text(amount)}" if amount > 0 else yen_text(amount)
