"""S07: removing a device, or "log out everywhere else", ends that device's (every other) app
sign-in too; the security page lists the app's sign-ins, each with a button that ends it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.api_clients import customer_client
from tests.conftest import make_customer, totp_for
from wallet.devices import device_digest
from wallet.models import ApiToken, KnownDevice, User, secret_digest

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
PHONE = "hanako-phone-install-" + "p" * 32
TABLET = "hanako-tablet-install-" + "t" * 32


@pytest.fixture
def frozen() -> Iterator[float]:
    """The middle of a coming 30-second TOTP step, held still: the codes one step before, at and
    after it are each accepted once, in that order."""
    now = time.time()
    moment = now - (now % 30) + 45
    with time_machine.travel(moment, tick=False):
        yield moment


@dataclass
class AppSignIn:
    key: str
    token: ApiToken

    def me_status(self) -> int:
        return int(APIClient(HTTP_AUTHORIZATION=f"Bearer {self.key}").get(reverse("api:me")).status_code)


def app_sign_in(user: User, device: TOTPDevice, device_id: str, code: str) -> AppSignIn:
    api = APIClient()
    started = api.post(reverse("api:auth_login"), {"email": user.email, "password": PASSWORD, "device_id": device_id}, format="json")
    assert started.status_code == 200, started.json()
    verified = api.post(reverse("api:auth_verify"), {"challenge": started.json()["challenge"], "code": code}, format="json")
    assert verified.status_code == 200, verified.json()
    key = str(verified.json()["token"])
    return AppSignIn(key=key, token=ApiToken.objects.get(key_digest=secret_digest(key, purpose="api-token")))


@pytest.fixture
def browser(customer: User, customer_totp: TOTPDevice, frozen: float) -> Client:
    """The customer on the security page of their computer."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    response = client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(frozen - 30)})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(customer.pk)
    return client


@pytest.fixture
def phone(browser: Client, customer: User, customer_totp: TOTPDevice, frozen: float) -> AppSignIn:
    return app_sign_in(customer, customer_totp, PHONE, totp_for(customer_totp).at(frozen))


@pytest.fixture
def tablet(phone: AppSignIn, customer: User, customer_totp: TOTPDevice, frozen: float) -> AppSignIn:
    return app_sign_in(customer, customer_totp, TABLET, totp_for(customer_totp).at(frozen + 30))


def test_s07_removing_a_device_ends_its_app_sign_in_and_leaves_the_others(
    browser: Client, customer: User, phone: AppSignIn, tablet: AppSignIn
) -> None:
    assert phone.me_status() == tablet.me_status() == 200
    phone_device = KnownDevice.objects.get(user=customer, device_digest=device_digest(PHONE))
    assert phone.token.device == phone_device

    response = browser.post(reverse("wallet:security_device_revoke", args=[phone_device.pk]), follow=True)

    assert phone.me_status() == 401
    assert tablet.me_status() == 200
    assert response.status_code == 200
    assert b"The device was removed and signed out" in response.content
    assert browser.get(reverse("wallet:security")).status_code == 200
    assert [t.pk for t in browser.get(reverse("wallet:security")).context["tokens"]] == [tablet.token.pk]


def test_s07_log_out_everywhere_else_ends_every_app_sign_in(browser: Client, customer: User, phone: AppSignIn, tablet: AppSignIn) -> None:
    limited = customer_client(customer)  # e.g. an older sign-in of the app, however it was made
    assert limited.get(reverse("api:me")).status_code == 200

    response = browser.post(reverse("wallet:security_sessions_end"), follow=True)

    assert phone.me_status() == tablet.me_status() == 401
    assert limited.get(reverse("api:me")).status_code == 401
    assert not ApiToken.objects.filter(user=customer).exists()
    assert response.status_code == 200
    assert b"Your other sessions and app sign-ins have been logged out." in response.content
    # The browser that asked stays logged in.
    page = browser.get(reverse("wallet:security"))
    assert page.status_code == 200 and page.context["tokens"] == []
    assert b"The app is not signed in anywhere." in page.content


def test_s07_security_page_lists_app_sign_ins_and_one_can_be_ended(browser: Client, phone: AppSignIn, tablet: AppSignIn) -> None:
    page = browser.get(reverse("wallet:security"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "App sign-ins" in body
    for sign_in in (phone, tablet):
        assert f'action="{reverse("wallet:security_token_revoke", args=[sign_in.token.pk])}"' in body

    response = browser.post(reverse("wallet:security_token_revoke", args=[tablet.token.pk]), follow=True)
    assert response.status_code == 200
    assert b"The app sign-in was ended." in response.content
    assert tablet.me_status() == 401
    assert phone.me_status() == 200
    body = browser.get(reverse("wallet:security")).content.decode()
    assert reverse("wallet:security_token_revoke", args=[tablet.token.pk]) not in body
    assert reverse("wallet:security_token_revoke", args=[phone.token.pk]) in body

    # Nothing to end twice, and a GET ends nothing.
    assert browser.post(reverse("wallet:security_token_revoke", args=[tablet.token.pk])).status_code == 404
    assert browser.get(reverse("wallet:security_token_revoke", args=[phone.token.pk])).status_code == 405
    assert phone.me_status() == 200


def test_s07_another_customers_app_sign_in_cannot_be_ended(browser: Client, phone: AppSignIn) -> None:
    other = make_customer("taro@example.jp")
    others_app = customer_client(other)
    others_token = ApiToken.objects.get(user=other)

    response = browser.post(reverse("wallet:security_token_revoke", args=[others_token.pk]))
    assert response.status_code == 404
    assert others_app.get(reverse("api:me")).status_code == 200
    assert phone.me_status() == 200
