"""Template context for every page: whether the site navigation shows "Refund"."""

from __future__ import annotations

from django.http import HttpRequest

from .models import ShutdownProgramme
from .services.programme import programme_current

# From the announcement on: holders look for the refund pages, also after the deadline (status, late claims).
_SHOWN_STATES = (ShutdownProgramme.State.ANNOUNCED, ShutdownProgramme.State.SERVICE_ENDED, ShutdownProgramme.State.CLAIMS_CLOSED)


class RefundNav:
    """Truthy while a programme is announced. Lazy, so pages that never ask (the admin) run no query."""

    def __init__(self) -> None:
        self._shown: bool | None = None

    def __bool__(self) -> bool:
        if self._shown is None:
            programme = programme_current()
            self._shown = programme is not None and programme.state in _SHOWN_STATES
        return self._shown


def refund_nav(request: HttpRequest) -> dict[str, object]:
    return {"REFUND_NAV": RefundNav()}
