from __future__ import annotations

import logging
from typing import Any

from ..field_length import fit
from ..models import AuthEvent, User
from ..request_meta import RequestMeta

security_log = logging.getLogger("anzenpay.security")


def auth_event_record(
    *,
    kind: str,
    meta: RequestMeta,
    user: User | None = None,
    claimed_identifier: str = "",
    detail: dict[str, Any] | None = None,
) -> AuthEvent:
    """L01: one row and one log line per authentication event. Callers never pass
    secrets in ``detail``; the log line carries ids only."""
    event = AuthEvent.objects.create(
        user=user,
        kind=kind,
        claimed_identifier=fit(AuthEvent, "claimed_identifier", claimed_identifier),
        ip=meta.ip,
        user_agent=meta.user_agent,
        channel=meta.channel,
        detail=detail or {},
    )
    security_log.info("auth_event kind=%s user=%s ip=%s channel=%s", kind, user.pk if user else "-", meta.ip or "-", meta.channel)
    return event
