"""S03: a staff freeze ends the customer's web sessions and API tokens at once."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from backoffice.services.freezes import account_freeze
from tests.backoffice.helpers import make_staff
from tests.conftest import totp_for
from wallet.api.authentication import api_token_issue
from wallet.models import AccountFreeze, ApiToken, User, UserSession

pytestmark = pytest.mark.django_db


def _signed_in(client: Client, user: User, device: TOTPDevice, password: str) -> Client:
    client.post(reverse("wallet:login"), {"username": user.email, "password": password})
    client.post(reverse("wallet:login_otp"), {"code": totp_for(device).at(time.time() - 30)})
    assert client.get(reverse("wallet:security")).status_code == 200
    return client


@pytest.mark.parametrize("scope", AccountFreeze.Scope.values)
def test_s03_freeze_ends_web_session_and_api_token_at_once(scope: str, customer: User, customer_totp: TOTPDevice, password: str) -> None:
    browser = _signed_in(Client(), customer, customer_totp, password)
    _token, key = api_token_issue(user=customer, label="phone", second_factor=True)
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(reverse("api:me")).status_code == 200
    support = make_staff("support@anzenpay.example", "support", totp=False)

    account_freeze(user=customer, scope=scope, reason="Card testing from this account", acting_user=support)

    assert browser.get(reverse("wallet:security")).status_code == 302
    assert api.get(reverse("api:me")).status_code == 401
    assert not ApiToken.objects.filter(user=customer).exists()
    assert not UserSession.objects.filter(user=customer, ended_at__isnull=True).exists()


def test_s03_freeze_of_everything_also_stops_signing_in(customer: User, customer_totp: TOTPDevice, password: str) -> None:
    support = make_staff("support@anzenpay.example", "support", totp=False)
    account_freeze(user=customer, scope=AccountFreeze.Scope.ALL, reason="Account takeover", acting_user=support)
    customer.refresh_from_db()
    assert customer.status == User.Status.FROZEN
    browser = Client()
    browser.post(reverse("wallet:login"), {"username": customer.email, "password": password})
    browser.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() - 30)})
    assert "_auth_user_id" not in browser.session
    assert browser.get(reverse("wallet:security")).status_code == 302
