"""DRF throttles that know the client's address the way the rest of AnzenPay does (A17).

DRF's own ``get_ident`` trusts ``X-Forwarded-For`` as sent unless ``NUM_PROXIES`` is set,
so a client could pick a new address for every request. These use
``wallet.request_meta.client_ip``, the one helper behind every throttle, lockout and audit
row: ``REMOTE_ADDR``, or what ``TRUSTED_PROXIES`` saw. ``ScopedRateThrottle`` is the default
throttle class (REST_FRAMEWORK settings); a view opts in with ``throttle_scope``.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework import throttling
from rest_framework.request import Request

from ..request_meta import client_ip


class ClientIpMixin:
    def get_ident(self, request: Request) -> str:
        django_request: HttpRequest = getattr(request, "_request", request)
        return client_ip(django_request) or "unknown"


class ScopedRateThrottle(ClientIpMixin, throttling.ScopedRateThrottle):
    pass


class AnonRateThrottle(ClientIpMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientIpMixin, throttling.UserRateThrottle):
    pass
