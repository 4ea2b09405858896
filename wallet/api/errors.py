from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..switches import ChannelDisabled


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus a switched-off channel as 503 with a readable message."""
    if isinstance(exc, ChannelDisabled):
        return Response({"detail": exc.message, "code": "channel_disabled", "channel": exc.channel}, status=503)
    return drf_exception_handler(exc, context)
