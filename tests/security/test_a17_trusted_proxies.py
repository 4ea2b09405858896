"""A17: the address a client is throttled, locked out and audited by comes from the peer or from our own
trusted proxies (TRUSTED_PROXIES), never from an X-Forwarded-For the client wrote.

The finding: DRF identified clients by X-Forwarded-For as sent, so 75 API logins from one address with a
forged header each were never throttled.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from wallet.models import AuthEvent, User

pytestmark = pytest.mark.django_db

PEER = "198.51.100.7"
LOGIN_RATE = 20  # REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"]: 20/min


def api_login(client: APIClient, *, peer: str, forwarded: str | None, email: str = "nobody@example.jp") -> Any:
    extra: dict[str, Any] = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("api:auth_login"), {"email": email, "password": "not the password"}, format="json", **extra)


def web_login(client: Client, *, peer: str, forwarded: str | None, email: str, password: str) -> Any:
    extra: dict[str, Any] = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("wallet:login"), {"username": email, "password": password}, **extra)


@pytest.fixture
def no_axes(settings: Any) -> None:
    """Axes would lock the address after ten failures; these tests look at the API throttle alone."""
    settings.AXES_ENABLED = False


def test_a17_api_login_throttle_ignores_forged_forwarded_for(no_axes: None) -> None:
    client = APIClient()
    for attempt in range(LOGIN_RATE):
        response = api_login(client, peer=PEER, forwarded=f"203.0.113.{attempt}")
        assert response.status_code == 401, response.content
    # A new forged address does not buy another attempt: the throttle counts the peer.
    refused = api_login(client, peer=PEER, forwarded="192.0.2.250")
    assert refused.status_code == 429
    assert "Retry-After" in refused
    # Another real address is not affected.
    assert api_login(client, peer="198.51.100.8", forwarded=None).status_code == 401


def test_a17_axes_locks_the_peer_whatever_forwarded_for_says(customer: User, password: str) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for attempt in range(10):
        web_login(client, peer=PEER, forwarded=f"203.0.113.{attempt}", email=f"user{attempt}@example.jp", password="wrong")
    # The address is locked: the customer's right password from it is refused, under yet another forged header.
    locked = web_login(client, peer=PEER, forwarded="192.0.2.1", email=customer.email, password=password)
    assert locked.status_code == 429
    assert b"Too many failed attempts" in locked.content


def test_a17_auth_event_records_the_peer_not_the_forged_header(no_axes: None) -> None:
    api_login(APIClient(), peer=PEER, forwarded="203.0.113.66, 192.0.2.9")
    event = AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_FAILED).latest("pk")
    assert event.ip == PEER


def test_a17_behind_a_trusted_proxy_the_address_it_saw_is_used(settings: Any, no_axes: None) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = "10.0.0.5"
    client = APIClient()
    # The client forged the left-most entry; our proxies appended the real one and each other.
    api_login(client, peer=proxy, forwarded="1.2.3.4, 203.0.113.9, 10.0.0.7")
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_FAILED).latest("pk").ip == "203.0.113.9"
    # Throttled per client behind the proxy, not per proxy: one client's attempts do not block another's.
    for _ in range(LOGIN_RATE - 1):
        assert api_login(client, peer=proxy, forwarded=f"{_}.1.1.1, 203.0.113.9").status_code == 401
    assert api_login(client, peer=proxy, forwarded="9.9.9.9, 203.0.113.9").status_code == 429
    assert api_login(client, peer=proxy, forwarded="203.0.113.10").status_code == 401


def test_a17_an_untrusted_peers_forwarded_for_is_ignored(settings: Any, no_axes: None) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    api_login(APIClient(), peer=PEER, forwarded="10.0.0.7, 203.0.113.9")
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_FAILED).latest("pk").ip == PEER


def test_a17_a_bad_trusted_proxies_value_stops_start_up() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DJANGO_DEBUG": "1", "TRUSTED_PROXIES": "10.0.0.0/8, not-an-address", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXIES: 'not-an-address' is not an IP address or CIDR range" in result.stderr
