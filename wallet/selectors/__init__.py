"""Reads shared by the portal, the API and the admin."""

from .money import (
    activity_for,
    cards_active_for,
    entry_for_customer,
    payments_for_terminal,
    topups_for,
    topups_pending_for,
    transfer_for_customer,
    wallet_balance,
    wallet_locks,
)
from .security import FactorSummary, active_sessions, api_tokens, known_devices, login_history, second_factor_summary

__all__ = [
    "FactorSummary",
    "active_sessions",
    "activity_for",
    "api_tokens",
    "cards_active_for",
    "entry_for_customer",
    "known_devices",
    "login_history",
    "payments_for_terminal",
    "second_factor_summary",
    "topups_for",
    "topups_pending_for",
    "transfer_for_customer",
    "wallet_balance",
    "wallet_locks",
]
