from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    return {"DEV_INBOX_ENABLED": settings.DEV_INBOX_ENABLED, "SITE_NAME": "AnzenPay"}
