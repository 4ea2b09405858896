from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.conftest import make_customer, totp_for
from tests.helpers import api_prove_contact_by_sms
from wallet.models import ApiToken, AuthEvent, KnownDevice, User
from wallet.services.sessions import credentials_revoke
from wallet.services.switches import channel_switch_set

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
DEVICE_ID = "app-install-" + "x" * 32


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def _login(api: APIClient, email: str = "hanako@example.jp", password: str = PASSWORD, **extra: str):
    return api.post(reverse("api:auth_login"), {"email": email, "password": password, **extra}, format="json")


def _full_token(api: APIClient, device: TOTPDevice, *, at_offset: int = 0) -> str:
    challenge = _login(api, device_id=DEVICE_ID).json()["challenge"]
    code = totp_for(device).at(timezone.now() + timedelta(seconds=at_offset))
    response = api.post(reverse("api:auth_verify"), {"challenge": challenge, "code": code}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["token"]


def test_login_with_totp_returns_a_challenge_then_a_token(api: APIClient, customer_totp: TOTPDevice) -> None:
    response = _login(api, device_id=DEVICE_ID)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "second_factor_required" and body["token"] is None
    assert body["methods"] == ["totp", "backup_code"]
    verify = api.post(reverse("api:auth_verify"), {"challenge": body["challenge"], "code": totp_for(customer_totp).now()}, format="json")
    assert verify.status_code == 200
    assert verify.json()["expires_idle_days"] == 30
    token = ApiToken.objects.get()
    assert token.second_factor_at is not None and token.device is not None
    assert KnownDevice.objects.filter(user=customer_totp.user).count() == 1
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {verify.json()['token']}")
    me = api.get(reverse("api:me")).json()
    assert me["email"] == "hanako@example.jp" and me["second_factor_enrolled"] and me["token_has_second_factor"]
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_SUCCEEDED, channel="api", detail__second_factor=True).count() == 1


def test_a06_the_same_code_works_once(api: APIClient, customer_totp: TOTPDevice) -> None:
    code = totp_for(customer_totp).now()
    first = _login(api).json()["challenge"]
    second = _login(api).json()["challenge"]
    assert api.post(reverse("api:auth_verify"), {"challenge": first, "code": code}, format="json").status_code == 200
    again = api.post(reverse("api:auth_verify"), {"challenge": second, "code": code}, format="json")
    assert again.status_code == 401 and again.json()["code"] == "invalid_code"
    assert ApiToken.objects.count() == 1


def test_a12_unknown_account_and_wrong_password_answer_the_same(api: APIClient, customer_totp: TOTPDevice) -> None:
    wrong = _login(api, password="wrong password here")
    unknown = _login(api, email="nobody@example.jp", password="wrong password here")
    unverified_user = make_customer("late@example.jp", email_verified_at=None)
    unverified = _login(api, email=unverified_user.email)
    assert wrong.status_code == unknown.status_code == unverified.status_code == 401
    assert wrong.json() == unknown.json() == unverified.json()
    assert wrong.json()["code"] == "invalid_credentials"
    assert not ApiToken.objects.exists()


def test_account_without_second_factor_gets_a_limited_token_and_enrols(api: APIClient, customer: User) -> None:
    body = _login(api).json()
    assert body["status"] == "enrolment_required" and body["challenge"] is None
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.get(reverse("api:me")).json()["token_has_second_factor"] is False
    # Only /me and factor enrolment: everything else needs the second factor.
    assert api.get(reverse("api:auth_tokens")).status_code == 403
    assert api.post(reverse("api:auth_step_up"), {"code": "123456"}, format="json").status_code == 403
    # A13: the password alone enrols nothing; the phone on record is proven first.
    refused = api.post(reverse("api:factors_totp"))
    assert refused.status_code == 403 and refused.json()["code"] == "proof_required"
    api_prove_contact_by_sms(api, customer)
    start = api.post(reverse("api:factors_totp")).json()
    assert start["otpauth_uri"].startswith("otpauth://totp/") and start["digits"] == 6 and start["period"] == 30
    wrong = api.post(reverse("api:factors_totp_confirm"), {"code": "000000"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_code"
    confirm = api.post(reverse("api:factors_totp_confirm"), {"code": pyotp.TOTP(start["secret"]).now()}, format="json")
    assert confirm.status_code == 200 and confirm.json()["token_has_second_factor"] is True
    assert TOTPDevice.objects.filter(user=customer, confirmed=True).count() == 1
    assert api.get(reverse("api:auth_tokens")).status_code == 200
    # The next login now asks for the code.
    assert _login(APIClient()).json()["status"] == "second_factor_required"


def test_s02_enrolling_through_the_app_ends_other_tokens_and_web_sessions(api: APIClient, customer: User) -> None:
    web = Client()
    web.force_login(customer)  # indexed as a UserSession by the login signal
    other = _login(APIClient()).json()["token"]
    body = _login(api).json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    api_prove_contact_by_sms(api, customer)
    secret = api.post(reverse("api:factors_totp")).json()["secret"]
    confirm = api.post(reverse("api:factors_totp_confirm"), {"code": pyotp.TOTP(secret).now()}, format="json")

    assert confirm.status_code == 200
    assert api.get(reverse("api:me")).status_code == 200
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {other}").get(reverse("api:me")).status_code == 401
    assert "_auth_user_id" not in web.session.load()


def test_confirm_without_a_started_enrolment_is_409(api: APIClient, customer: User) -> None:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_login(api).json()['token']}")
    response = api.post(reverse("api:factors_totp_confirm"), {"code": "123456"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "no_enrolment"


def test_s04_adding_another_factor_needs_a_fresh_step_up(api: APIClient, customer_totp: TOTPDevice) -> None:
    token = _full_token(api, customer_totp)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert api.post(reverse("api:factors_totp")).status_code == 403
        bad = api.post(reverse("api:auth_step_up"), {"code": "000000"}, format="json")
        assert bad.status_code == 400
    with time_machine.travel(timezone.now() + timedelta(minutes=10, seconds=3)):
        code = totp_for(customer_totp).now()
        stepped = api.post(reverse("api:auth_step_up"), {"code": code}, format="json")
        assert stepped.status_code == 200 and stepped.json()["valid_seconds"] == 300
        assert api.post(reverse("api:factors_totp")).status_code == 200
    assert ApiToken.objects.get().step_up_at is not None


def test_logout_kills_the_token(api: APIClient, customer_totp: TOTPDevice) -> None:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_full_token(api, customer_totp)}")
    assert api.post(reverse("api:auth_logout")).status_code == 204
    assert api.get(reverse("api:me")).status_code == 401
    assert not ApiToken.objects.exists()


def test_b08_tokens_list_and_revoke_only_your_own(api: APIClient, customer_totp: TOTPDevice) -> None:
    other = make_customer("taro@example.jp")
    from wallet.api.authentication import api_token_issue

    others_token, _others_key = api_token_issue(user=other, label="taro phone", second_factor=True)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_full_token(api, customer_totp)}")
    listed = api.get(reverse("api:auth_tokens")).json()
    assert len(listed) == 1 and listed[0]["current"] is True and "key" not in listed[0]
    assert api.delete(reverse("api:auth_token_detail", args=[others_token.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=others_token.pk).exists()
    mine = listed[0]["id"]
    assert api.delete(reverse("api:auth_token_detail", args=[mine])).status_code == 204
    assert api.get(reverse("api:me")).status_code == 401


def test_challenge_expires_after_five_minutes(api: APIClient, customer_totp: TOTPDevice) -> None:
    challenge = _login(api).json()["challenge"]
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        response = api.post(reverse("api:auth_verify"), {"challenge": challenge, "code": totp_for(customer_totp).now()}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "challenge_invalid"


def test_s02_challenge_dies_when_credentials_change(api: APIClient, customer_totp: TOTPDevice) -> None:
    challenge = _login(api).json()["challenge"]
    credentials_revoke(user=customer_totp.user)
    response = api.post(reverse("api:auth_verify"), {"challenge": challenge, "code": totp_for(customer_totp).now()}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "challenge_invalid"


def test_tampered_challenge_is_refused(api: APIClient, customer_totp: TOTPDevice) -> None:
    response = api.post(reverse("api:auth_verify"), {"challenge": "eyJ1aWQiOjF9:abc:def", "code": "123456"}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "challenge_invalid"


def test_login_channel_switched_off_is_503(api: APIClient, customer_totp: TOTPDevice) -> None:
    channel_switch_set(name="login.password", enabled=False, reason="incident", acting_user=None)
    cache.clear()
    response = _login(api)
    assert response.status_code == 503 and response.json()["code"] == "channel_disabled"


def test_a04_account_locks_after_repeated_failures(api: APIClient, customer_totp: TOTPDevice) -> None:
    for _ in range(10):
        _login(api, password="wrong password here")
    response = _login(api)  # even the right password
    assert response.status_code == 429 and response.json()["code"] == "locked"
    assert "challenge" not in response.json()


def test_b05_auth_endpoints_are_throttled_per_address(api: APIClient, customer: User) -> None:
    statuses = [api.post(reverse("api:auth_verify"), {"challenge": "x", "code": "123456"}, format="json").status_code for _ in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429


def test_bad_input_is_a_clear_400(api: APIClient, customer: User) -> None:
    response = api.post(reverse("api:auth_login"), {"email": ""}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"email", "password"}
    assert not AuthEvent.objects.exists()


def test_password_is_not_trimmed(api: APIClient) -> None:
    make_customer(password="  spaces around me  ")
    assert _login(api, password="spaces around me").status_code == 401
    assert _login(api, password="  spaces around me  ").status_code == 200


def test_schema_and_docs_are_served(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/auth/login/", "/api/v1/auth/verify/", "/api/v1/auth/step-up/", "/api/v1/me/", "/api/v1/factors/totp/confirm/"):
        assert path in paths
    login = paths["/api/v1/auth/login/"]["post"]
    assert {"200", "401", "429", "503"} <= set(login["responses"])
    assert client.get("/api/docs/").status_code == 200
