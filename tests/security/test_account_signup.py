"""Sign-up against SECURITY.md: A01, A02, A12 (sign-up part), B05 (sign-up part)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.helpers import SIGNUP_PASSWORD, signup_data
from wallet.models import Notification, User
from wallet.services.switches import channel_is_enabled

PASSWORD = SIGNUP_PASSWORD


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _strip_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


@pytest.mark.django_db
def test_a12_signup_answers_the_same_for_a_new_and_a_verified_address(
    client: Client, customer: User, django_capture_on_commit_callbacks: Any
) -> None:
    channel_is_enabled("signup")  # warm the switch cache so both requests see the same state
    responses, query_counts = [], []
    for email in ["brand-new@example.jp", customer.email]:
        visitor = Client(HTTP_ACCEPT_LANGUAGE="en")
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=False):
            response = visitor.post(
                reverse("wallet:signup"),
                signup_data(email=email, password="Another passphrase 42", password_confirm="Another passphrase 42"),
            )
        query_counts.append(len(queries))
        assert response.status_code == 302, re.findall(r"errorlist[^<]*<li>([^<]*)", response.content.decode())
        page = visitor.get(response["Location"])
        responses.append((response.status_code, response["Location"], page.status_code, _strip_csrf(page.content.decode())))

    assert responses[0] == responses[1]
    assert query_counts[0] == query_counts[1]
    # The verified account is untouched; its owner is told instead.
    customer.refresh_from_db()
    assert customer.check_password("correct horse battery staple") and customer.full_name == "山田 花子"
    assert Notification.objects.filter(user=customer, kind="signup_existing_account", to_address=customer.email).count() == 1
    assert Notification.objects.filter(user__email="brand-new@example.jp", kind="email_verify").count() == 1


@pytest.mark.django_db
def test_a12_owner_of_a_verified_address_gets_one_notice_not_a_flood(client: Client, customer: User) -> None:
    for _ in range(3):
        assert client.post(reverse("wallet:signup"), signup_data(email=customer.email))["Location"] == reverse("wallet:signup_sent")
    assert Notification.objects.filter(user=customer, kind="signup_existing_account").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a12_existing_account_mail_says_log_in_or_reset(client: Client, customer: User) -> None:
    client.post(reverse("wallet:signup"), signup_data(email=customer.email))
    [message] = mail.outbox
    assert message.to == [customer.email]
    assert reverse("wallet:login") in message.body and reverse("wallet:password_reset") in message.body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("qz7#kfp", False),  # 7 characters
        ("qz7#kfpw", True),  # 8 characters
        ("only lowercase words here", True),  # no composition rules
        ("x" * 20 + " long passphrase " + "y" * 60, True),  # 64+ characters
    ],
)
def test_a01_password_length_not_composition(client: Client, password: str, accepted: bool) -> None:
    response = client.post(reverse("wallet:signup"), signup_data(password=password, password_confirm=password))
    assert (response.status_code == 302) is accepted
    assert User.objects.filter(email="taro@example.jp").exists() is accepted
    if accepted:
        assert User.objects.get().check_password(password)
    else:
        assert "at least 8 characters" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["password123", "iloveyou1", "12345678"])
def test_a02_common_password_refused_at_signup(client: Client, password: str) -> None:
    response = client.post(reverse("wallet:signup"), signup_data(password=password, password_confirm=password))
    assert response.status_code == 200
    assert "too common" in response.content.decode() or "entirely numeric" in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_b05_signup_is_rate_limited_per_ip(client: Client) -> None:
    for _ in range(10):
        assert client.post(reverse("wallet:signup"), {"email": "x"}).status_code == 200  # form errors still count
    response = client.post(reverse("wallet:signup"), signup_data())
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert not User.objects.exists()
    # Another address is not affected.
    other = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="198.51.100.7")
    assert other.post(reverse("wallet:signup"), signup_data()).status_code == 302


@pytest.mark.django_db
def test_b05_signup_is_rate_limited_per_address(client: Client) -> None:
    for i in range(3):
        visitor = Client(REMOTE_ADDR=f"198.51.100.{i + 1}")
        assert visitor.post(reverse("wallet:signup"), signup_data()).status_code == 302
    fourth = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="198.51.100.99")
    response = fourth.post(reverse("wallet:signup"), signup_data(email="TARO@example.jp"))
    assert response.status_code == 429
    assert Notification.objects.filter(kind="email_verify").count() == 3
