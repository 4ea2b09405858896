"""Who and from where, read once from a request (L01)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address the trusted proxies saw when TRUSTED_PROXY_COUNT > 0.

    X-Forwarded-For is trusted only as far as our own proxies wrote it, so a client
    cannot pick the address it is throttled by.
    """
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


@dataclass(frozen=True)
class RequestMeta:
    ip: str | None
    user_agent: str
    channel: str = "web"

    @classmethod
    def from_request(cls, request: HttpRequest, *, channel: str = "web") -> RequestMeta:
        return cls(ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300], channel=channel)


SYSTEM_META = RequestMeta(ip=None, user_agent="system", channel="system")
