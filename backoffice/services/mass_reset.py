"""Mass password reset (issue 4 §8). Being built."""

from __future__ import annotations

from typing import Any

from wallet.models import User

from ..models import Approval

MASS_RESET_REQUEST_PERMISSION = "backoffice.run_massreset"


def mass_reset_validate(payload: dict[str, Any]) -> None:
    raise NotImplementedError


def mass_reset_execute(approval: Approval, checker: User, ip: str | None) -> None:
    raise NotImplementedError
