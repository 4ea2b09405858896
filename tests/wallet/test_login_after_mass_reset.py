"""The next login after a mass password reset: the customer's own browser or app is told
what happened and guided to a reset link (to the address on record), then the second
factor; nobody else learns whether an address has an account (A12, R01, R02, R04)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.services.approvals import approval_approve
from backoffice.services.mass_reset import mass_reset_request
from tests.backoffice.helpers import make_staff
from tests.conftest import make_customer, totp_for
from tests.money import fund_wallet
from wallet.devices import device_digest
from wallet.models import KnownDevice, User
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new long passphrase"
APP_DEVICE = "app-install-" + "7" * 40
RESET_PAGE = b"Your password was reset for your security"


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _code(device: TOTPDevice, offset: int) -> str:
    return totp_for(device).at(time.time() + offset)


def _full_login(client: Client, email: str, password: str, device: TOTPDevice, offset: int) -> None:
    response = client.post(reverse("wallet:login"), {"username": email, "password": password})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:login_otp")
    response = client.post(reverse("wallet:login_otp"), {"code": _code(device, offset)})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:home")


def _mass_reset(capture: Callable[..., Any], **filters: Any) -> None:
    maker = make_staff("maker@anzenpay.example", "supervisor", totp=False)
    checker = make_staff("checker@anzenpay.example", "supervisor", totp=False)
    job = mass_reset_request(filters=filters or {"all": True}, reason="Credential stuffing", acting_user=maker)
    assert job.approval is not None
    with capture(execute=True):
        approval_approve(approval=job.approval, checker=checker)


def _anonymised(response: Any, email: str) -> str:
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return html.replace(email, "EMAIL")


def test_own_browser_is_guided_through_reset_link_and_second_factor(
    client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    fund_wallet(customer, 4_500)
    _full_login(client, customer.email, PASSWORD, customer_totp, offset=-30)
    _mass_reset(django_capture_on_commit_callbacks)
    customer.refresh_from_db()
    assert customer.must_reset_password and not customer.has_usable_password()
    # The session ended: the browser is logged out.
    assert client.get(reverse("wallet:security")).status_code == 302 and "_auth_user_id" not in client.session

    for password in (PASSWORD, "anything at all"):
        page = client.post(reverse("wallet:login"), {"username": customer.email, "password": password})
        assert page.status_code == 200 and RESET_PAGE in page.content
        reset_on = timezone.localtime(customer.credentials_changed_at).strftime("%Y-%m-%d")
        assert f"On {reset_on}, AnzenPay reset the password of your account".encode() in page.content
        assert b"Your balance and your history are untouched." in page.content
        assert f'action="{reverse("wallet:password_reset")}"'.encode() in page.content
        assert b"sent only to the email address registered on your account" in page.content

    # The button asks for the reset link; it goes to the address on record, nowhere else (R01).
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(reverse("wallet:password_reset"), {"email": customer.email})
    assert sent.status_code == 302
    reset_mails = [m for m in mail.outbox if "/password-reset/" in m.body]
    assert [m.to for m in reset_mails] == [[customer.email]]
    link = re.search(r"https?://[^/\s]+(/password-reset/\S+)", str(reset_mails[0].body))
    assert link is not None
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("wallet:login")
    customer.refresh_from_db()
    assert not customer.must_reset_password and customer.check_password(NEW_PASSWORD)
    assert "_auth_user_id" not in client.session  # R04: the reset did not log anyone in

    # Then the usual login: the new password and the second factor.
    _full_login(client, customer.email, NEW_PASSWORD, customer_totp, offset=0)
    assert client.session["_auth_user_id"] == str(customer.pk)
    assert wallet_balance(customer) == 4_500


def test_a12_other_browsers_cannot_tell_a_reset_account_from_an_unknown_address(
    client: Client, customer: User, customer_totp: TOTPDevice, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    _full_login(Client(HTTP_ACCEPT_LANGUAGE="en"), customer.email, PASSWORD, customer_totp, offset=-30)
    bystander = make_customer("bystander@example.jp", date_joined=timezone.now() + timedelta(days=1))
    _mass_reset(django_capture_on_commit_callbacks, joined_until=timezone.now())
    bystander.refresh_from_db()
    assert not bystander.must_reset_password

    reset_account = client.post(reverse("wallet:login"), {"username": customer.email, "password": PASSWORD})
    unknown = client.post(reverse("wallet:login"), {"username": "nobody@example.jp", "password": PASSWORD})
    wrong_password = client.post(reverse("wallet:login"), {"username": bystander.email, "password": "not the password"})
    assert reset_account.status_code == unknown.status_code == wrong_password.status_code == 200
    assert RESET_PAGE not in reset_account.content
    page = _anonymised(reset_account, customer.email)
    assert page == _anonymised(unknown, "nobody@example.jp") == _anonymised(wrong_password, bystander.email)
    # The one answer everybody gets says how to get back in after a reset, one click away.
    assert "The email address or password is incorrect." in page and "Did AnzenPay reset your password?" in page
    assert f'action="{reverse("wallet:password_reset")}"' in page and 'name="email" value="EMAIL"' in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("wallet:password_reset"), {"email": customer.email.upper()})
    assert [m.to for m in mail.outbox if "/password-reset/" in str(m.body)] == [[customer.email]]


def test_api_login_answers_password_reset_required_only_to_a_known_device(
    client: Client, customer: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    KnownDevice.objects.create(user=customer, device_digest=device_digest(APP_DEVICE), label="phone")
    _mass_reset(django_capture_on_commit_callbacks)
    url = reverse("api:auth_login")

    own_app = client.post(url, {"email": customer.email, "password": PASSWORD, "device_id": APP_DEVICE}, content_type="application/json")
    assert own_app.status_code == 401
    body = own_app.json()
    assert body["code"] == "password_reset_required"
    assert "reset by AnzenPay for security" in body["detail"] and "balance and your history are untouched" in body["detail"]
    assert body["reset_url"].endswith(reverse("wallet:password_reset")) and body["reset_at"]

    other_app = client.post(url, {"email": customer.email, "password": PASSWORD, "device_id": "x" * 40}, content_type="application/json")
    no_device = client.post(url, {"email": customer.email, "password": PASSWORD}, content_type="application/json")
    unknown = client.post(url, {"email": "nobody@example.jp", "password": PASSWORD}, content_type="application/json")
    assert other_app.status_code == no_device.status_code == unknown.status_code == 401
    assert other_app.json() == no_device.json() == unknown.json()
    assert unknown.json()["code"] == "invalid_credentials"
    assert "If AnzenPay told you that your password was reset" in unknown.json()["detail"]


def test_without_pending_resets_the_login_answers_as_before(client: Client, customer: User) -> None:
    page = client.post(reverse("wallet:login"), {"username": customer.email, "password": "wrong"})
    assert b"The email address or password is incorrect." in page.content
    assert b"Did AnzenPay reset your password?" not in page.content
    api = client.post(reverse("api:auth_login"), {"email": customer.email, "password": "wrong"}, content_type="application/json")
    assert api.json() == {"detail": "The email address or password is incorrect.", "code": "invalid_credentials"}
