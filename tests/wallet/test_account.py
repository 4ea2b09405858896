from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import make_customer
from tests.helpers import latest_sms_code
from wallet.models import AuthEvent, Notification, User
from wallet.services.notifications import EMAIL_CHANGE_SALT
from wallet.services.second_factor import SESSION_STEP_UP_AT
from wallet.tokens import signed_payload_make

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def verified_client(user: User, device: TOTPDevice | None = None, *, stepped_up: bool = True) -> Client:
    """A browser logged in with the second factor (and, by default, a fresh step-up)."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user, backend=MODEL_BACKEND)
    session = client.session
    if device is not None:
        session["otp_device_id"] = device.persistent_id
    if stepped_up:
        session[SESSION_STEP_UP_AT] = timezone.now().isoformat()
    session.save()
    return client


def link_in(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://\S+", str(message.body))
    assert found, message.body
    return urlparse(found.group(0)).path


@pytest.mark.django_db
def test_profile_shows_details_and_needs_login(customer: User) -> None:
    anonymous = Client()
    assert anonymous.get(reverse("wallet:profile")).status_code == 302
    page = verified_client(customer).get(reverse("wallet:profile")).content.decode()
    assert customer.email in page and "ヤマダ ハナコ" in page and "090-1234-5678" in page


@pytest.mark.django_db(transaction=True)
def test_password_change_keeps_this_session_and_ends_the_others(customer: User, password: str) -> None:
    here, elsewhere = verified_client(customer), verified_client(customer)
    response = here.post(
        reverse("wallet:password_change"),
        {"current_password": password, "new_password": "a brand new passphrase", "new_password_confirm": "a brand new passphrase"},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password("a brand new passphrase")
    assert here.get(reverse("wallet:profile")).status_code == 200
    assert elsewhere.get(reverse("wallet:profile")).status_code == 302
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.PASSWORD_CHANGED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_email_change_through_the_link_sent_to_the_new_address(customer: User, customer_totp: TOTPDevice) -> None:
    client = verified_client(customer, customer_totp)
    response = client.post(reverse("wallet:email_change"), {"new_email": "Hanako.New@Example.JP"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "hanako@example.jp", "nothing changes before the link is used"
    [message] = mail.outbox
    assert message.to == ["hanako.new@example.jp"]

    link = link_in(message)
    assert client.get(link).status_code == 200
    response = client.post(link)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "hanako.new@example.jp" and customer.email_verified_at is not None
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.EMAIL_CHANGED).count() == 1
    assert client.get(reverse("wallet:profile")).status_code == 200, "this session stays"
    # Used once: the link names the old address.
    again = client.post(link)
    assert again.status_code == 400 and "cannot be used" in again.content.decode()


@pytest.mark.django_db(transaction=True)
def test_email_change_to_a_taken_address_answers_the_same_and_is_refused(customer: User, customer_totp: TOTPDevice) -> None:
    make_customer("taken@example.jp", phone="+819099998888")
    client = verified_client(customer, customer_totp)
    taken = client.post(reverse("wallet:email_change"), {"new_email": "taken@example.jp"}, follow=True)
    free = client.post(reverse("wallet:email_change"), {"new_email": "free@example.jp"}, follow=True)
    assert taken.status_code == free.status_code == 200
    assert "We sent a link" in taken.content.decode() and "We sent a link" in free.content.decode()
    assert [m.to for m in mail.outbox] == [["free@example.jp"]]

    forged = signed_payload_make({"uid": customer.pk, "old": customer.email, "new": "taken@example.jp"}, salt=EMAIL_CHANGE_SALT)
    response = client.post(reverse("wallet:email_change_confirm", args=[forged]))
    assert response.status_code == 400 and "cannot be used" in response.content.decode()
    customer.refresh_from_db()
    assert customer.email == "hanako@example.jp"


@pytest.mark.django_db
def test_email_change_link_of_another_account_is_refused(customer: User, customer_totp: TOTPDevice) -> None:
    other = make_customer("other@example.jp")
    token = signed_payload_make({"uid": other.pk, "old": other.email, "new": "mine@example.jp"}, salt=EMAIL_CHANGE_SALT)
    response = verified_client(customer, customer_totp).post(reverse("wallet:email_change_confirm", args=[token]))
    assert response.status_code == 400
    other.refresh_from_db()
    assert other.email == "other@example.jp"


@pytest.mark.django_db(transaction=True)
def test_phone_change_with_an_sms_code_to_the_new_number(customer: User, customer_totp: TOTPDevice) -> None:
    client = verified_client(customer, customer_totp)
    response = client.post(reverse("wallet:phone_change"), {"phone": "080-5555-6666"})
    assert response.status_code == 302 and response["Location"] == reverse("wallet:phone_change_verify")
    customer.refresh_from_db()
    assert customer.phone == "+819012345678", "nothing changes before the code"

    sent = latest_sms_code("+818055556666")
    wrong = client.post(reverse("wallet:phone_change_verify"), {"code": "000000" if sent != "000000" else "111111"})
    assert wrong.status_code == 400
    response = client.post(reverse("wallet:phone_change_verify"), {"code": sent})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.phone == "+818055556666"
    assert AuthEvent.objects.filter(user=customer, kind=AuthEvent.Kind.PHONE_CHANGED).count() == 1
    note = Notification.objects.get(kind="phone_changed")
    assert note.to_address == "hanako@example.jp"
    assert [m.to for m in mail.outbox] == [["hanako@example.jp"]]
    assert "080-5555-6666" in mail.outbox[0].body
