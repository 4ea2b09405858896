"""Reads shared by the back-office views, admin and tasks, one module per area."""

from .general import (
    STAFF_ACTION_CSV_HEADER,
    channel_switch_history,
    csv_safe,
    staff_action_csv_rows,
    users_with_factor_flags,
)

__all__ = ["STAFF_ACTION_CSV_HEADER", "channel_switch_history", "csv_safe", "staff_action_csv_rows", "users_with_factor_flags"]
