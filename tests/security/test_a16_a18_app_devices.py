"""A16: the app's own known device is exempt from the password lockout, as a known browser is.
A18: an app login that names no device is a login from a new device: it gets a device id,
the owner is told, and the risk rules for new devices apply to what follows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.api_clients import new_key, post_money
from tests.conftest import totp_for
from tests.money import make_card
from wallet.devices import device_digest
from wallet.models import ApiToken, KnownDevice, Notification, RiskDecision, TopUp, User, secret_digest
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
OWNER_IP = "192.0.2.10"
OWNER_APP = "owner-phone-install-" + "k" * 32


def app(ip: str = OWNER_IP, key: str | None = None) -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def login(client: APIClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post(reverse("api:auth_login"), {"email": email, "password": password, **extra}, format="json")


def verify(client: APIClient, challenge: str, code: str) -> Any:
    return client.post(reverse("api:auth_verify"), {"challenge": challenge, "code": code}, format="json")


def full_app_login(client: APIClient, user: User, device: TOTPDevice, moment: float, **extra: str) -> str:
    """Password, then the authenticator code of ``moment``'s step: the new token's key."""
    with time_machine.travel(moment, tick=False):
        started = login(client, user.email, **extra)
        assert started.status_code == 200, started.json()
        verified = verify(client, started.json()["challenge"], totp_for(device).at(moment))
    assert verified.status_code == 200, verified.json()
    return str(verified.json()["token"])


# --- A16 ------------------------------------------------------------------------------------


def test_a16_password_lockout_stops_unknown_apps_but_not_the_owners_known_app(
    customer: User, customer_totp: TOTPDevice, start: float
) -> None:
    full_app_login(app(), customer, customer_totp, start, device_id=OWNER_APP)

    with time_machine.travel(start + 60, tick=False):
        for i in range(settings.AXES_FAILURE_LIMIT):
            login(app(f"198.51.100.{i + 1}"), customer.email, password=f"guess {i}")
        # Any app the account does not know is locked out, even with the right password.
        for extra in ({}, {"device_id": "attacker-install-" + "z" * 32}):
            locked = login(app("198.51.100.200"), customer.email, **extra)
            assert locked.status_code == 429 and locked.json()["code"] == "locked", extra
            assert "challenge" not in locked.json()

    # The owner's app names the device that completed a login with the second factor before.
    with time_machine.travel(start + 90, tick=False):
        started = login(app(), customer.email, device_id=OWNER_APP)
        assert started.status_code == 200, started.json()
        assert started.json()["status"] == "second_factor_required"
        verified = verify(app(), started.json()["challenge"], totp_for(customer_totp).at(start + 90))
        assert verified.status_code == 200, verified.json()
        assert app(key=verified.json()["token"]).get(reverse("api:me")).status_code == 200
    assert KnownDevice.objects.filter(user=customer).count() == 1


# --- A18 ------------------------------------------------------------------------------------


def test_a18_app_login_without_a_device_id_is_a_new_device_and_its_top_up_is_held(
    customer: User, customer_totp: TOTPDevice, start: float, django_capture_on_commit_callbacks: Any
) -> None:
    # The customer's phone has been signing in for a month.
    full_app_login(app(), customer, customer_totp, start - timedelta(days=30).total_seconds(), device_id=OWNER_APP)
    card = make_card(customer)
    notices_before = Notification.objects.filter(user=customer, kind="new_device_login").count()

    # Today an app signs in without naming a device.
    other = app("203.0.113.5")
    with time_machine.travel(start, tick=False):
        started = login(other, customer.email)
        assert started.status_code == 200, started.json()
        assigned = started.json()["device_id"]
        assert isinstance(assigned, str) and len(assigned) >= 32
        assert device_digest(assigned) != device_digest(OWNER_APP)
        with django_capture_on_commit_callbacks(execute=True):
            verified = verify(other, started.json()["challenge"], totp_for(customer_totp).at(start))
    assert verified.status_code == 200, verified.json()
    key = verified.json()["token"]

    # A new known device, the owner is told, and the token belongs to that device.
    new_device = KnownDevice.objects.get(user=customer, device_digest=device_digest(assigned))
    assert KnownDevice.objects.filter(user=customer).count() == 2
    assert Notification.objects.filter(user=customer, kind="new_device_login").count() == notices_before + 1
    assert ApiToken.objects.get(key_digest=secret_digest(key, purpose="api-token")).device == new_device
    login_decision = RiskDecision.objects.filter(user=customer, event="login").latest("pk")
    assert login_decision.device_key == new_device.device_digest

    # A top-up from it right away is held for review as money after a login from a new device.
    with time_machine.travel(start + 30, tick=False):
        stepped = app("203.0.113.5", key).post(reverse("api:auth_step_up"), {"code": totp_for(customer_totp).at(start + 30)}, format="json")
        assert stepped.status_code == 200, stepped.json()
        with django_capture_on_commit_callbacks(execute=True):
            topped = post_money(app("203.0.113.5", key), "topups", {"card_id": card.pk, "amount_yen": 3_000}, new_key())
    assert topped.status_code == 201, topped.json()
    assert topped.json()["status"] == "held"
    topup = TopUp.objects.get(user=customer)
    assert topup.status == TopUp.Status.HELD and topup.risk_decision is not None
    assert "new-device-topup" in {reason["rule"] for reason in topup.risk_decision.reasons}
    assert wallet_balance(customer) == 0

    # The app keeps the id it was given: its next login is from a known device, nothing new, no new notice.
    with time_machine.travel(start + 60, tick=False):
        again = login(other, customer.email, device_id=assigned)
        assert again.status_code == 200 and again.json()["device_id"] is None
        assert verify(other, again.json()["challenge"], totp_for(customer_totp).at(start + 60)).status_code == 200
    assert KnownDevice.objects.filter(user=customer).count() == 2
    assert Notification.objects.filter(user=customer, kind="new_device_login").count() == notices_before + 1
