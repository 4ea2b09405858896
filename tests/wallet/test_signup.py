from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.helpers import SIGNUP_PASSWORD, latest_sms_code, signup_data
from wallet.adapters.sms import SmsDeliveryError
from wallet.models import AuthEvent, DevInboxMessage, Notification, PhoneVerification, User
from wallet.request_meta import RequestMeta
from wallet.services import phone as phone_service
from wallet.services.phone import phone_code_send, phone_code_verify
from wallet.services.switches import channel_switch_set

META = RequestMeta(ip="192.0.2.10", user_agent="pytest")
PASSWORD = SIGNUP_PASSWORD


@pytest.fixture
def client() -> Client:
    """Pages in English, whatever the Japanese catalogue says."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def link_from_mail(to: str) -> str:
    message = next(m for m in reversed(mail.outbox) if to in m.to)
    found = re.search(r"https?://\S+", str(message.body))
    assert found, message.body
    return urlparse(found.group(0)).path


@pytest.mark.django_db(transaction=True)
def test_signup_happy_path_through_email_link_and_sms_code(client: Client) -> None:
    response = client.post(reverse("wallet:signup"), signup_data())
    assert response.status_code == 302 and response["Location"] == reverse("wallet:signup_sent")
    user = User.objects.get(email="taro@example.jp")
    assert user.phone == "+819012345678" and user.name_kana == "スズキ タロウ"
    assert user.email_verified_at is None and user.check_password(PASSWORD)
    assert "Check your email" in client.get(reverse("wallet:signup_sent")).content.decode()

    link = link_from_mail("taro@example.jp")
    page = client.get(link)
    assert page.status_code == 200
    user.refresh_from_db()
    assert user.email_verified_at is None, "opening the link (a mail scanner) must not use it"

    response = client.post(link)
    assert response.status_code == 302 and response["Location"] == reverse("wallet:signup_phone")
    user.refresh_from_db()
    assert user.email_verified_at is not None and user.phone_verified_at is None
    assert AuthEvent.objects.filter(user=user, kind=AuthEvent.Kind.EMAIL_VERIFIED).count() == 1
    assert client.get(reverse("wallet:signup_phone")).status_code == 200  # logged in

    code = latest_sms_code("+819012345678")
    assert not PhoneVerification.objects.filter(code_digest__contains=code).exists()  # stored as a digest only
    response = client.post(reverse("wallet:signup_phone"), {"action": "verify", "code": code})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:totp_enrol")
    user.refresh_from_db()
    assert user.phone_verified_at is not None
    assert AuthEvent.objects.filter(user=user, kind=AuthEvent.Kind.PHONE_VERIFIED).count() == 1

    # The same link again: a clear error page offering a new link, nothing changes.
    client.logout()
    again = client.post(link)
    assert again.status_code == 400
    assert reverse("wallet:signup_resend") in again.content.decode()


@pytest.mark.django_db(transaction=True)
def test_wrong_or_reused_sms_code_is_refused_and_attempts_are_capped(client: Client) -> None:
    client.post(reverse("wallet:signup"), signup_data())
    client.post(link_from_mail("taro@example.jp"))
    code = latest_sms_code("+819012345678")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(PhoneVerification.MAX_ATTEMPTS):
        response = client.post(reverse("wallet:signup_phone"), {"action": "verify", "code": wrong})
        assert response.status_code == 400 and "not right" in response.content.decode()
    # Five wrong guesses used the code up, even for the right one.
    response = client.post(reverse("wallet:signup_phone"), {"action": "verify", "code": code})
    assert response.status_code == 400
    assert User.objects.get(email="taro@example.jp").phone_verified_at is None

    # A new code works.
    client.post(reverse("wallet:signup_phone"), {"action": "resend"})
    new_code = latest_sms_code("+819012345678")
    response = client.post(reverse("wallet:signup_phone"), {"action": "verify", "code": new_code})
    assert response.status_code == 302
    response = client.post(reverse("wallet:signup_phone"), {"action": "verify", "code": new_code})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:totp_enrol")  # already verified


@pytest.mark.django_db(transaction=True)
def test_sms_resend_is_limited(client: Client) -> None:
    client.post(reverse("wallet:signup"), signup_data())
    client.post(link_from_mail("taro@example.jp"))  # code 1
    client.post(reverse("wallet:signup_phone"), {"action": "resend"})  # code 2
    client.post(reverse("wallet:signup_phone"), {"action": "resend"})  # code 3
    response = client.post(reverse("wallet:signup_phone"), {"action": "resend"}, follow=True)
    assert "Too many codes" in response.content.decode()
    assert PhoneVerification.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_sms_failure_gives_a_clear_error_and_keeps_nothing(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*, to: str, body: str) -> str:
        raise SmsDeliveryError("number unreachable")

    monkeypatch.setattr(phone_service, "sms_send", refuse)
    client.post(reverse("wallet:signup"), signup_data())
    response = client.post(link_from_mail("taro@example.jp"), follow=True)
    assert "could not send an SMS" in response.content.decode()
    assert not PhoneVerification.objects.exists()
    user = User.objects.get(email="taro@example.jp")
    assert user.phone_verified_at is None

    # Correcting the number on the phone step sends the code there.
    monkeypatch.undo()
    response = client.post(reverse("wallet:signup_phone"), {"action": "change", "phone": "080-2222-3333"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.phone == "+818022223333" and user.phone_verified_at is None
    assert DevInboxMessage.objects.filter(channel="sms", to="+818022223333").exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_submits_of_one_sms_code_succeed_once() -> None:
    user = User.objects.create_user("para@example.jp", PASSWORD, phone="+819011112222", email_verified_at="2025-01-01T00:00:00Z")
    phone_code_send(user=user, phone=user.phone, purpose=PhoneVerification.Purpose.SIGNUP, meta=META)
    code = latest_sms_code("+819011112222")
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        try:
            barrier.wait()
            results.append(
                phone_code_verify(user=User.objects.get(pk=user.pk), code=code, purpose=PhoneVerification.Purpose.SIGNUP, meta=META)
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert AuthEvent.objects.filter(user=user, kind=AuthEvent.Kind.PHONE_VERIFIED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_unverified_account_is_taken_over_by_the_next_sign_up(client: Client) -> None:
    client.post(reverse("wallet:signup"), signup_data(full_name="Squatter", phone="080-9999-8888"))
    old_link = link_from_mail("taro@example.jp")
    mail.outbox.clear()

    response = client.post(reverse("wallet:signup"), signup_data())
    assert response["Location"] == reverse("wallet:signup_sent")
    user = User.objects.get(email="taro@example.jp")
    assert user.full_name == "鈴木 太郎" and user.phone == "+819012345678" and user.check_password(PASSWORD)
    assert User.objects.count() == 1
    assert client.post(old_link).status_code == 400, "the earlier link dies with the replaced password"
    assert client.post(link_from_mail("taro@example.jp")).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_signup_switched_off_writes_nothing(client: Client) -> None:
    channel_switch_set(name="signup", enabled=False, reason="fraud wave", acting_user=None)
    response = client.post(reverse("wallet:signup"), signup_data())
    assert response.status_code == 503
    assert "temporarily suspended" in response.content.decode()
    assert not User.objects.exists() and not Notification.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name_kana", "やまだ", "full-width katakana"),
        ("name_kana", "Yamada", "full-width katakana"),
        ("phone", "03-1234-5678", "landline"),
        ("phone", "+1 650 253 0000", "Japanese mobile"),
        ("phone", "12", "Japanese mobile"),
        ("email", "hanakö@example.jp", "ASCII"),
        ("email", "not-an-address", "valid email"),
        ("birth_date", "2999-01-01", "real birth date"),
        ("password_confirm", "something else entirely", "not the same"),
    ],
)
def test_bad_sign_up_input_gets_a_clear_error_and_changes_nothing(client: Client, field: str, value: str, message: str) -> None:
    response = client.post(reverse("wallet:signup"), signup_data(**{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists() and not Notification.objects.exists()


@pytest.mark.django_db
def test_full_width_email_half_width_kana_and_national_phone_are_normalised(client: Client) -> None:
    data = signup_data(email="ＴＡＲＯ@Example.JP", name_kana="ｽｽﾞｷ　ﾀﾛｳ", phone="０９０１２３４５６７８")
    response = client.post(reverse("wallet:signup"), data)
    assert response.status_code == 302
    user = User.objects.get()
    assert (user.email, user.name_kana, user.phone) == ("taro@example.jp", "スズキ タロウ", "+819012345678")


@pytest.mark.django_db
def test_resend_link_answers_the_same_for_any_address(client: Client, django_capture_on_commit_callbacks: Any) -> None:
    User.objects.create_user("waiting@example.jp", PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        waiting = client.post(reverse("wallet:signup_resend"), {"email": "waiting@example.jp"})
        unknown = client.post(reverse("wallet:signup_resend"), {"email": "nobody@example.jp"})
    assert waiting.status_code == unknown.status_code == 302
    assert waiting["Location"] == unknown["Location"] == reverse("wallet:signup_sent")
    assert [m.to for m in mail.outbox] == [["waiting@example.jp"]]


@pytest.mark.django_db
def test_portal_home_landing_and_status(client: Client) -> None:
    landing = client.get(reverse("wallet:home")).content.decode()
    assert reverse("wallet:signup") in landing and reverse("wallet:login") in landing
    user = User.objects.create_user("home@example.jp", PASSWORD, full_name="Home User", email_verified_at="2025-01-01T00:00:00Z")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(reverse("wallet:home")).content.decode()
    assert "Home User" in page
    assert reverse("wallet:totp_enrol") in page and "Set up your authenticator" in page
    assert reverse("wallet:signup_phone") in page  # phone not verified yet
    assert "¥" not in page and "balance" not in page.lower()
