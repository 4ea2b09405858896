"""Password reset pages: request, mail, new password, then a normal login."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import totp_for
from wallet.models import AuthEvent, Notification, User

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new long passphrase"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def reset_link_path(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/[^\s]+/)", str(message.body))
    assert found is not None, str(message.body)
    return found.group(1)


def test_reset_request_mails_a_link_and_changes_nothing(client: Client, customer: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    before = User.objects.filter(pk=customer.pk).values().get()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("wallet:password_reset"), {"email": customer.email})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:password_reset_done")
    assert [m.to for m in mail.outbox] == [[customer.email]]
    assert User.objects.filter(pk=customer.pk).values().get() == before
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.PASSWORD_RESET_REQUESTED).count() == 1


def test_full_reset_then_login_still_asks_second_factor(
    client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("wallet:password_reset"), {"email": customer.email})
    path = reset_link_path(mail.outbox[0])
    response = client.get(path)
    # The token leaves the address bar at once.
    assert response.status_code == 302 and response["Location"].endswith("/set-password/")
    form_page = client.get(response["Location"])
    assert form_page.status_code == 200
    response = client.post(response["Location"], {"new_password1": "password", "new_password2": "password"})
    assert response.status_code == 200 and response.context["form"].errors
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(form_page.request["PATH_INFO"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login")
    assert "_auth_user_id" not in client.session
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)
    assert Notification.objects.filter(user=customer, kind="password_reset_completed").exists()
    assert mail.outbox[-1].to == [customer.email]
    response = client.post(reverse("wallet:login"), {"username": customer.email, "password": NEW_PASSWORD})
    assert response["Location"] == reverse("wallet:login_otp")
    response = client.post(reverse("wallet:login_otp"), {"code": totp_for(customer_totp).at(time.time())})
    assert client.session["_auth_user_id"] == str(customer.pk)


def test_mismatched_passwords_get_a_clear_error(client: Client, customer: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("wallet:password_reset"), {"email": customer.email})
    response = client.get(reset_link_path(mail.outbox[0]), follow=True)
    response = client.post(response.request["PATH_INFO"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"})
    assert "do not match" in response.content.decode()
    customer.refresh_from_db()
    assert not customer.check_password(NEW_PASSWORD)


def test_invalid_email_syntax_is_a_clear_error(client: Client, customer: User) -> None:
    response = client.post(reverse("wallet:password_reset"), {"email": "not an address"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"]
