"""Who and from where, read once from a request (L01)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils import timezone

from .field_length import fit
from .models import AuthEvent

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(configured: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in configured if entry.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc


def trusted_proxy_networks() -> tuple[IpNetwork, ...]:
    """``settings.TRUSTED_PROXIES`` (addresses or CIDR ranges) as networks, parsed once per value."""
    return _networks(tuple(settings.TRUSTED_PROXIES))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket is that IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[IpNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client, for every throttle, lockout and audit row (A17).

    ``REMOTE_ADDR`` unless the peer is one of ``TRUSTED_PROXIES``. Only then is ``X-Forwarded-For``
    read, from the right (each proxy appends the address it saw): addresses of trusted proxies are
    skipped and the first one that is not ours is the client. Everything left of it was written by
    the client and is ignored, so a client cannot pick the address it is throttled by. A header
    that names only our proxies, or holds garbage where the client should be, gives the last
    trusted hop rather than a made-up address.
    """
    remote = _address(request.META.get("REMOTE_ADDR") or "")
    if remote is None:
        return None
    networks = trusted_proxy_networks()
    if not networks or not _is_trusted(remote, networks):
        return str(remote)
    client = remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


@dataclass(frozen=True)
class RequestMeta:
    ip: str | None
    user_agent: str
    channel: str = "web"

    def sign_in_notice_context(self, when: datetime | None = None) -> dict[str, str]:
        """Where and when a sign-in came from, as the owner's notice mails show it (A11)."""
        moment = when or timezone.now()
        return {"ip": self.ip or "", "user_agent": self.user_agent, "when": moment.isoformat(), "channel": self.channel}

    @classmethod
    def from_request(cls, request: HttpRequest, *, channel: str = "web") -> RequestMeta:
        return cls(ip=client_ip(request), user_agent=fit(AuthEvent, "user_agent", request.META.get("HTTP_USER_AGENT", "")), channel=channel)


SYSTEM_META = RequestMeta(ip=None, user_agent="system", channel="system")
