"""S01, S02, S05 for the customer web session."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import totp_for
from wallet.api.authentication import api_token_issue
from wallet.models import ApiToken, User, UserSession
from wallet.tokens import password_reset_tokens, uid_encode

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _login(client: Client, user: User, device: TOTPDevice, offset: int = -30) -> None:
    client.post(reverse("wallet:login"), {"username": user.email, "password": PASSWORD})
    response = client.post(reverse("wallet:login_otp"), {"code": totp_for(device).at(time.time() + offset)})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(user.pk)


def test_s01_new_session_id_at_each_login_step_and_at_step_up(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    client.get(reverse("wallet:login"))
    client.session.save()
    planted = client.session.session_key  # e.g. fixed by an attacker
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    after_password = client.session.session_key
    client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time() - 30)})
    after_login = client.session.session_key
    assert len({planted, after_password, after_login}) == 3
    client.post(reverse("wallet:step_up"), {"code": totp_for(customer_totp).now()})
    after_step_up = client.session.session_key
    assert after_step_up != after_login
    # The session index follows the new id, so the security page still marks "this session".
    assert UserSession.objects.filter(session_key=after_step_up, ended_at__isnull=True).exists()
    planted_client = Client()
    planted_client.cookies[settings.SESSION_COOKIE_NAME] = str(planted)
    assert planted_client.get(reverse("wallet:security")).status_code == 302


def test_s02_password_reset_ends_all_sessions_and_api_tokens(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    phone, laptop = Client(), Client()
    _login(phone, customer, customer_totp, -30)
    _login(laptop, customer, customer_totp, 0)
    api_token_issue(user=customer, label="app", second_factor=True)
    path = reverse("wallet:password_reset_confirm", args=[uid_encode(customer), password_reset_tokens.make_token(customer)])
    form_url = client.get(path)["Location"]
    client.post(form_url, {"new_password1": "a brand new long passphrase", "new_password2": "a brand new long passphrase"})
    for browser in (phone, laptop):
        assert browser.get(reverse("wallet:security")).status_code == 302
        assert "_auth_user_id" not in browser.session
    assert not ApiToken.objects.filter(user=customer).exists()


def test_s02_factor_change_ends_other_sessions_and_tokens(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    from wallet.request_meta import SYSTEM_META
    from wallet.services.second_factor import backup_codes_generate

    backup_codes_generate(user=customer, meta=SYSTEM_META)
    backup = customer.backupcodedevice_set.get()
    other = Client()
    _login(other, customer, customer_totp, -30)
    _login(client, customer, customer_totp, 0)
    api_token_issue(user=customer, label="app", second_factor=True)
    client.post(reverse("wallet:step_up"), {"code": totp_for(customer_totp).at(time.time() + 30)})
    client.post(reverse("wallet:factor_remove", args=["backup", backup.pk]))
    assert other.get(reverse("wallet:security")).status_code == 302
    assert client.get(reverse("wallet:security")).status_code == 200
    assert not ApiToken.objects.filter(user=customer).exists()


def test_s05_idle_and_absolute_timeouts(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    assert timedelta(minutes=15) == settings.SESSION_IDLE_TIMEOUT
    assert timedelta(hours=12) == settings.SESSION_ABSOLUTE_TIMEOUT
    assert settings.STAFF_SESSION_IDLE_TIMEOUT < settings.SESSION_IDLE_TIMEOUT
    _login(client, customer, customer_totp)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert client.get(reverse("wallet:security")).status_code == 302
        assert "_auth_user_id" not in client.session
    other = Client()
    _login(other, customer, customer_totp, 0)
    start = timezone.now()
    for minutes in range(10, 12 * 60, 10):  # active every 10 minutes, never idle
        with time_machine.travel(start + timedelta(minutes=minutes)):
            assert other.get(reverse("wallet:security")).status_code == 200
    with time_machine.travel(start + timedelta(hours=12, minutes=5)):
        assert other.get(reverse("wallet:security")).status_code == 302


def test_s05_pending_second_factor_step_expires(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=5)):
        response = client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).now()})
    assert response["Location"] == reverse("wallet:login")


def test_s03_a_frozen_account_loses_its_sessions_and_tokens_at_once(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    _login(client, customer, customer_totp)
    _token, key = api_token_issue(user=customer, label="app", second_factor=True)
    assert client.get(reverse("wallet:security")).status_code == 200

    User.objects.filter(pk=customer.pk).update(status=User.Status.FROZEN)

    assert client.get(reverse("wallet:security")).status_code == 302
    assert "_auth_user_id" not in client.session
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(reverse("api:me")).status_code == 401
