"""Money builders, kept importable from their old place: they live in tests/factories/money.py."""

from __future__ import annotations

from tests.factories import ensure_second_factor, fund_wallet, make_card, make_terminal, payment_code_for

__all__ = ["ensure_second_factor", "fund_wallet", "make_card", "make_terminal", "payment_code_for"]
