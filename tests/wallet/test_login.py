"""Customer login: password, second factor, step-up, security page, unlock."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import enrol_totp, make_customer, totp_for
from wallet.models import AuthEvent, KnownDevice, Notification, User, UserSession
from wallet.services.switches import channel_switch_set

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def client() -> Client:
    # Pages are asserted in English; the default language is Japanese.
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def code_at(device: TOTPDevice, offset: int = 0) -> str:
    return totp_for(device).at(time.time() + offset)


def login_password(client: Client, email: str = "hanako@example.jp", password: str = PASSWORD, **extra: Any):  # type: ignore[no-untyped-def]
    return client.post(reverse("wallet:login"), {"username": email, "password": password}, **extra)


def full_login(client: Client, device: TOTPDevice, email: str = "hanako@example.jp", offset: int = -30):  # type: ignore[no-untyped-def]
    response = login_password(client, email)
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login_otp")
    return client.post(reverse("wallet:login_otp"), {"code": code_at(device, offset)})


def test_login_with_totp_asks_for_code_then_logs_in(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    response = login_password(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("wallet:login_otp")
    # Not logged in yet: the money pages still send to login.
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("wallet:login_otp"), {"code": code_at(customer_totp)})
    assert response.status_code == 302
    assert response["Location"] == reverse("wallet:home")
    assert client.session["_auth_user_id"] == str(customer.pk)
    assert "anzen_device" in response.cookies
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.LOGIN_SUCCEEDED).exists()
    assert KnownDevice.objects.filter(user=customer).count() == 1
    assert UserSession.objects.filter(user=customer, ended_at__isnull=True, device__isnull=False).count() == 1


def test_new_device_login_notifies_but_a_known_device_does_not(
    client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        full_login(client, customer_totp, offset=-30)
    assert [m.to for m in mail.outbox] == [[customer.email]]
    assert Notification.objects.get(user=customer).kind == "new_device_login"
    client.post(reverse("wallet:logout"))
    with django_capture_on_commit_callbacks(execute=True):
        full_login(client, customer_totp, offset=0)
    assert len(mail.outbox) == 1
    assert Notification.objects.filter(user=customer, kind="new_device_login").count() == 1


def test_login_without_second_factor_goes_to_enrolment(client: Client, customer: User) -> None:
    response = login_password(client)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("wallet:totp_enrol"))
    assert client.session["_auth_user_id"] == str(customer.pk)
    # Pages behind the second-factor guard send the user to enrol.
    response = client.get(reverse("wallet:security"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:totp_enrol"))


def test_wrong_code_five_times_sends_back_to_password(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    login_password(client)
    for _ in range(4):
        response = client.post(reverse("wallet:login_otp"), {"code": "000000"})
        assert response.status_code == 200
        assert b"not valid" in response.content
    response = client.post(reverse("wallet:login_otp"), {"code": "000000"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("wallet:login")
    assert "_auth_user_id" not in client.session
    # The pending state is gone: even a right code now needs the password again.
    response = client.post(reverse("wallet:login_otp"), {"code": code_at(customer_totp)})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login")


def test_pending_code_step_expires_after_five_minutes(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    login_password(client)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        response = client.post(reverse("wallet:login_otp"), {"code": code_at(customer_totp)})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login")
    assert "_auth_user_id" not in client.session


def test_login_switched_off_shows_suspended_message(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    channel_switch_set(name="login.password", enabled=False, reason="incident", acting_user=None)
    from django.core.cache import cache

    cache.clear()
    response = login_password(client)
    assert response.status_code == 200
    assert b"temporarily suspended" in response.content
    assert "_anzen_pending_uid" not in client.session


def test_next_is_followed_only_when_local(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD, "next": "https://evil.example/"})
    response = client.post(reverse("wallet:login_otp"), {"code": code_at(customer_totp, -30)})
    assert response["Location"] == reverse("wallet:home")
    client.post(reverse("wallet:logout"))
    client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD, "next": "/security/"})
    response = client.post(reverse("wallet:login_otp"), {"code": code_at(customer_totp, 0)})
    assert response["Location"] == "/security/"


def test_logout_is_post_only(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    full_login(client, customer_totp)
    assert client.get(reverse("wallet:logout")).status_code == 405
    assert "_auth_user_id" in client.session
    response = client.post(reverse("wallet:logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.LOGOUT).exists()


def test_step_up_requires_a_fresh_code_and_returns_to_next(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    full_login(client, customer_totp, offset=-30)
    response = client.get(reverse("wallet:backup_codes"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:step_up"))
    response = client.post(
        reverse("wallet:step_up") + "?next=/security/backup-codes/", {"code": "123456", "next": "/security/backup-codes/"}
    )
    assert response.status_code == 200 and b"not valid" in response.content
    response = client.post(reverse("wallet:step_up"), {"code": code_at(customer_totp, 0), "next": "/security/backup-codes/"})
    assert response.status_code == 302 and response["Location"] == "/security/backup-codes/"
    assert client.get(reverse("wallet:backup_codes")).status_code == 200
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.STEP_UP).count() == 1


def test_step_up_rejects_offsite_next(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    full_login(client, customer_totp, offset=-30)
    response = client.post(reverse("wallet:step_up"), {"code": code_at(customer_totp, 0), "next": "//evil.example/x"})
    assert response["Location"] == reverse("wallet:security")


def test_security_page_lists_sessions_devices_and_history(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    full_login(client, customer_totp)
    response = client.get(reverse("wallet:security"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "This session" in body
    assert len(response.context["sessions"]) == 1
    assert len(response.context["devices"]) == 1
    kinds = {event.kind for event in response.context["history"]}
    assert AuthEvent.Kind.LOGIN_SUCCEEDED in kinds


def test_history_is_paginated_and_capped_at_fifty(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    for _ in range(60):
        AuthEvent.objects.create(user=customer, kind=AuthEvent.Kind.LOGIN_FAILED)
    full_login(client, customer_totp)
    response = client.get(reverse("wallet:security") + "?page=99")
    assert response.context["history"].paginator.count == 50
    assert response.context["history"].number == 5


def test_log_out_everywhere_else(client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    other = Client()
    full_login(other, customer_totp, offset=-30)
    full_login(client, customer_totp, offset=0)
    other_key = other.session.session_key
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("wallet:security_sessions_end"))
    assert response.status_code == 302
    assert not Session.objects.filter(session_key=other_key).exists()
    assert other.get(reverse("wallet:security")).status_code == 302
    assert client.get(reverse("wallet:security")).status_code == 200
    assert [m.to for m in mail.outbox] == [[customer.email]] * 3  # two new-device notices, one sessions-ended
    assert Notification.objects.filter(user=customer, kind="sessions_ended", status="sent").count() == 1
    # Nothing left to end: no event, no mail.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("wallet:security_sessions_end"))
    assert Notification.objects.filter(user=customer, kind="sessions_ended").count() == 1


def test_revoking_a_device_ends_its_sessions(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    other = Client()
    full_login(other, customer_totp, offset=-30)
    full_login(client, customer_totp, offset=0)
    other_device = KnownDevice.objects.get(user=customer, usersession__session_key=other.session.session_key)
    response = client.post(reverse("wallet:security_device_revoke", args=[other_device.pk]))
    assert response.status_code == 302
    other_device.refresh_from_db()
    assert other_device.revoked_at is not None
    assert other.get(reverse("wallet:security")).status_code == 302
    # Another user's device cannot be touched.
    stranger = make_customer("taro@example.jp")
    theirs = KnownDevice.objects.create(user=stranger, device_digest="x" * 64)
    assert client.post(reverse("wallet:security_device_revoke", args=[theirs.pk])).status_code == 404


def test_unlock_link_trusts_this_browser_and_clears_the_lock(
    client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    for i in range(10):
        login_password(client, password=f"wrong {i}", REMOTE_ADDR=f"10.1.0.{i}")
    response = login_password(client, REMOTE_ADDR="10.2.0.1")
    assert response.status_code == 429
    assert reverse("wallet:login_unlock_request").encode() in response.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("wallet:login_unlock_request"), {"email": "Hanako@Example.jp"})
    assert response.status_code == 200
    assert [m.to for m in mail.outbox] == [[customer.email]]
    link = re.search(r"http://\S+/login/unlock/\S+/", str(mail.outbox[0].body))
    assert link is not None
    path = link.group(0).split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 200  # GET only shows a button
    response = client.post("/" + path)
    assert response.status_code == 302
    assert "anzen_device" in response.cookies
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.UNLOCK_LINK_USED).exists()
    response = full_login(client, customer_totp)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(customer.pk)


def test_unlock_request_answers_the_same_for_unknown_addresses(client: Client, customer: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post(reverse("wallet:login_unlock_request"), {"email": customer.email})
        unknown = client.post(reverse("wallet:login_unlock_request"), {"email": "nobody@example.jp"})
    assert known.status_code == unknown.status_code == 200
    assert known.content.replace(known.context["csrf_token"].encode(), b"") == unknown.content.replace(
        unknown.context["csrf_token"].encode(), b""
    )
    assert [m.to for m in mail.outbox] == [[customer.email]]


def test_unlock_request_is_rate_limited_per_address(client: Client, customer: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(5):
            response = client.post(reverse("wallet:login_unlock_request"), {"email": customer.email}, REMOTE_ADDR=f"10.3.0.{i}")
            assert response.status_code == 200
    assert len(mail.outbox) == 3


def test_unlock_link_dies_after_an_hour_and_after_a_password_change(client: Client, customer: User) -> None:
    from wallet.services.notifications import _unlock_link

    link = _unlock_link(customer, {})["link"]
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert client.get(path).status_code == 400
    customer.credentials_changed_at = timezone.now() + timedelta(seconds=1)
    customer.save()
    assert client.get(path).status_code == 400
    assert client.get("/login/unlock/garbage/").status_code == 400


def test_backup_code_logs_in_once(client: Client, customer: User, customer_totp: TOTPDevice) -> None:
    from wallet.request_meta import SYSTEM_META
    from wallet.services.second_factor import backup_codes_generate

    codes = backup_codes_generate(user=customer, meta=SYSTEM_META)
    login_password(client)
    response = client.post(reverse("wallet:login_otp"), {"code": codes[0]})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:home")
    client.post(reverse("wallet:logout"))
    login_password(client)
    response = client.post(reverse("wallet:login_otp"), {"code": codes[0]})
    assert response.status_code == 200 and b"not valid" in response.content


def test_other_user_enrolment_does_not_leak(client: Client) -> None:
    user = make_customer("jiro@example.jp")
    device = enrol_totp(user)
    response = full_login(client, device, email="jiro@example.jp")
    assert response.status_code == 302
