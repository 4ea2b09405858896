"""Compensation for fraudulent transactions (issue 4 §7). Being built."""

from __future__ import annotations

from typing import Any

from wallet.models import User

from ..models import Approval

COMPENSATION_REQUEST_PERMISSION = "backoffice.add_compensation"


def compensation_validate(payload: dict[str, Any]) -> None:
    raise NotImplementedError


def compensation_execute(approval: Approval, checker: User, ip: str | None) -> None:
    raise NotImplementedError
