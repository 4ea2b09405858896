from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..services.ledger import MoneyError
from ..switches import ChannelDisabled


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: a switched-off channel as 503 with a readable message; a
    money refusal as its own status with ``{"detail", "code"}``; and a machine-readable
    ``code`` next to DRF's own ``detail`` messages (not_authenticated, not_found, …)."""
    if isinstance(exc, ChannelDisabled):
        return Response({"detail": exc.message, "code": "channel_disabled", "channel": exc.channel}, status=503)
    if isinstance(exc, MoneyError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.http_status)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and set(response.data) == {"detail"}:
        if isinstance(exc, Http404):
            response.data["code"] = "not_found"
        elif isinstance(exc, exceptions.APIException) and isinstance(exc.detail, str):
            response.data["code"] = exc.detail.code
    return response


@csrf_exempt  # nothing to protect: it only ever answers 404
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any /api/v1/ address no route matches (a malformed id in the path, a typo) answers in
    the API's own shape rather than with the site's HTML page."""
    return JsonResponse({"detail": _("Not found."), "code": "not_found"}, status=404)
