"""Password, email and phone changes against SECURITY.md: A02, A03, A11, S04."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.wallet.test_account import link_in, verified_client
from wallet.models import ApiToken, Notification, User


def change_password(client, current: str, new: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("wallet:password_change"), {"current_password": current, "new_password": new, "new_password_confirm": new})


@pytest.mark.django_db
def test_a03_password_change_needs_the_current_password(customer: User, password: str) -> None:
    response = change_password(verified_client(customer), "not my password", "a brand new passphrase")
    assert response.status_code == 400
    assert "current password is not correct" in response.content.decode()
    customer.refresh_from_db()
    assert customer.check_password(password)
    assert not Notification.objects.filter(kind="password_changed").exists()


@pytest.mark.django_db
def test_a03_long_passwords_are_never_truncated(customer: User, password: str) -> None:
    def authenticate(*, username: str, password: str) -> User | None:
        return ModelBackend().authenticate(None, username=username, password=password)  # type: ignore[return-value]

    long_password = "w" * 99 + "A"
    assert change_password(verified_client(customer), password, long_password).status_code == 302
    assert authenticate(username=customer.email, password=long_password) is not None
    assert authenticate(username=customer.email, password="w" * 99 + "B") is None
    assert authenticate(username=customer.email, password="w" * 72) is None
    assert authenticate(username=customer.email, password="w" * 99) is None


@pytest.mark.django_db
@pytest.mark.parametrize("new", ["password123", "iloveyou1", "87654321"])
def test_a02_common_password_refused_at_change(customer: User, password: str, new: str) -> None:
    response = change_password(verified_client(customer), password, new)
    assert response.status_code == 400
    customer.refresh_from_db()
    assert customer.check_password(password)


@pytest.mark.django_db(transaction=True)
def test_a11_password_change_is_mailed_and_revokes_api_tokens(customer: User, password: str) -> None:
    ApiToken.objects.create(user=customer, key_digest="d" * 64, key_prefix="abcd")
    assert change_password(verified_client(customer), password, "a brand new passphrase").status_code == 302
    assert [m.to for m in mail.outbox] == [[customer.email]]
    assert Notification.objects.get().kind == "password_changed"
    assert not ApiToken.objects.filter(user=customer).exists()


@pytest.mark.django_db(transaction=True)
def test_a11_email_change_is_mailed_to_the_old_address(customer: User, customer_totp: TOTPDevice) -> None:
    client = verified_client(customer, customer_totp)
    client.post(reverse("wallet:email_change"), {"new_email": "new-address@example.jp"})
    client.post(link_in(mail.outbox[0]))
    customer.refresh_from_db()
    assert customer.email == "new-address@example.jp"
    changed = Notification.objects.get(kind="email_changed")
    assert changed.to_address == "hanako@example.jp"
    old_mail = mail.outbox[-1]
    assert old_mail.to == ["hanako@example.jp"] and "new-address@example.jp" in old_mail.body


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["wallet:email_change", "wallet:phone_change", "wallet:phone_change_verify"])
def test_s04_email_and_phone_change_need_a_fresh_step_up(customer: User, customer_totp: TOTPDevice, url_name: str) -> None:
    client = verified_client(customer, customer_totp, stepped_up=False)
    for response in (
        client.get(reverse(url_name)),
        client.post(reverse(url_name), {"new_email": "attacker@example.jp", "phone": "080-5555-6666", "code": "123456"}),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("wallet:step_up"))
    customer.refresh_from_db()
    assert customer.email == "hanako@example.jp" and customer.phone == "+819012345678"
    assert not Notification.objects.exists()
    assert not customer.phone_verifications.exists()


@pytest.mark.django_db
def test_s04_without_a_second_factor_the_change_pages_send_to_enrolment(customer: User) -> None:
    client = verified_client(customer)  # no authenticator at all
    response = client.get(reverse("wallet:email_change"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wallet:totp_enrol"))
