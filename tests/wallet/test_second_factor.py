"""Authenticator enrolment, backup codes and removing factors (web pages)."""

from __future__ import annotations

import base64
import re
import time

import pyotp
import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import totp_for
from tests.helpers import prove_contact_by_sms
from wallet.models import AuthEvent, BackupCodeDevice, Notification, User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _login_without_factor(client: Client, user: User) -> None:
    """Logged in with the password, then the phone on record proven (A13), ready to enrol."""
    response = client.post(reverse("wallet:login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    prove_contact_by_sms(client, user)


def _enrol(client: Client) -> TOTPDevice:
    response = client.get(reverse("wallet:totp_enrol"))
    assert response.status_code == 200
    secret = "".join(response.context["secret_groups"])
    device = TOTPDevice.objects.get(pk=client.session["_anzen_enrol_device"])
    assert base64.b32encode(device.bin_key).decode().rstrip("=") == secret
    response = client.post(reverse("wallet:totp_enrol"), {"code": pyotp.TOTP(secret).at(time.time() - 30)})
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(reverse("wallet:backup_codes"))
    device.refresh_from_db()
    return device


def test_enrolment_page_shows_inline_svg_qr_and_base32_secret(client: Client, customer: User) -> None:
    _login_without_factor(client, customer)
    response = client.get(reverse("wallet:totp_enrol"))
    body = response.content.decode()
    assert "<svg" in body and "<path" in body
    assert "<img" not in body and "https://" not in body.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org", "")
    assert re.fullmatch(r"[A-Z2-7]+", "".join(response.context["secret_groups"]))
    assert not TOTPDevice.objects.filter(user=customer, confirmed=True).exists()


def test_enrolment_confirmed_by_first_code_verifies_session_and_notifies(client: Client, customer: User) -> None:
    _login_without_factor(client, customer)
    device = _enrol(client)
    assert device.confirmed
    assert Notification.objects.filter(user=customer, kind="factor_added").exists()
    # Session is now verified: the security page opens; backup codes can be made at once (fresh code).
    assert client.get(reverse("wallet:security")).status_code == 200
    assert client.get(reverse("wallet:backup_codes")).status_code == 200


def test_wrong_enrolment_code_keeps_the_same_secret(client: Client, customer: User) -> None:
    _login_without_factor(client, customer)
    first = client.get(reverse("wallet:totp_enrol")).context["secret_groups"]
    response = client.post(reverse("wallet:totp_enrol"), {"code": "000000"})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert response.context["secret_groups"] == first
    response = client.post(reverse("wallet:totp_enrol"), {"code": "12ab"})
    assert response.context["form"].errors["code"]
    assert not TOTPDevice.objects.filter(user=customer, confirmed=True).exists()


def test_backup_codes_shown_once_ten_codes_stored_hashed(client: Client, customer: User) -> None:
    _login_without_factor(client, customer)
    _enrol(client)
    response = client.post(reverse("wallet:backup_codes"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    codes = response.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(BackupCodeDevice.objects.get(user=customer).codes.values_list("code_digest", flat=True))
    assert len(stored) == 10
    assert not any(code.replace("-", "") in digest for code in codes for digest in stored)
    page = client.get(reverse("wallet:backup_codes")).content.decode()
    assert not any(code in page for code in codes)
    assert "10 unused codes" in page
    # Regenerating replaces the old set.
    again = client.post(reverse("wallet:backup_codes")).context["codes"]
    assert not set(again) & set(codes)
    assert Notification.objects.filter(user=customer, kind="backup_codes_regenerated").count() == 2


def test_removing_a_factor_needs_step_up_and_ends_other_sessions(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    other = Client()
    for c, offset in ((other, -30), (client, 0)):
        c.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
        assert c.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() + offset)}).status_code == 302
    url = reverse("wallet:factor_remove", args=["totp", customer_totp.pk])
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:step_up"))
    assert TOTPDevice.objects.filter(pk=customer_totp.pk).exists()
    client.post(reverse("wallet:step_up"), {"code": totp_for(customer_totp).at(time.time() + 30), "next": url})
    page = client.get(url)
    assert page.status_code == 200 and page.context["last_totp"]
    response = client.post(url)
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=customer_totp.pk).exists()
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.FACTOR_REMOVED).exists()
    assert Notification.objects.filter(user=customer, kind="factor_removed").exists()
    # Other session ended; this one stays but is no longer verified: sent to enrol.
    assert other.get(reverse("wallet:security")).status_code == 302
    assert "_auth_user_id" not in other.session
    response = client.get(reverse("wallet:security"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:totp_enrol"))
    assert "_auth_user_id" in client.session


def test_cannot_remove_someone_elses_factor(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    from tests.conftest import enrol_totp, make_customer

    stranger_device = enrol_totp(make_customer("taro@example.jp"))
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() - 30)})
    client.post(reverse("wallet:step_up"), {"code": totp_for(customer_totp).now()})
    assert client.post(reverse("wallet:factor_remove", args=["totp", stranger_device.pk])).status_code == 404
    assert client.get(reverse("wallet:factor_remove", args=["sms", 1])).status_code == 404
    assert TOTPDevice.objects.filter(pk=stranger_device.pk).exists()


def test_adding_a_second_authenticator_needs_step_up(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() - 30)})
    response = client.get(reverse("wallet:totp_enrol"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:step_up"))
