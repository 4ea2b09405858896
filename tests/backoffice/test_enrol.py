from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.models import StaffAction
from tests.backoffice.helpers import STAFF_PASSWORD, make_staff
from tests.conftest import make_customer, totp_for

pytestmark = pytest.mark.django_db


def _open(user):
    user.staff_enrollment_open_until = timezone.now() + timedelta(hours=1)
    user.save(update_fields=["staff_enrollment_open_until"])
    return user


def test_new_staff_enrols_then_signs_in_to_the_admin(client: Client) -> None:
    staff = _open(make_staff("new@anzenpay.example", "support", totp=False))
    response = client.post(reverse("backoffice:enrol"), {"email": "NEW@anzenpay.example", "password": STAFF_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("backoffice:enrol_confirm")
    page = client.get(reverse("backoffice:enrol_confirm"))
    body = page.content.decode()
    assert "<svg" in body
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    secret = totp_for(device).secret
    assert secret in body
    response = client.post(reverse("backoffice:enrol_confirm"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"] == reverse("admin:login")
    device.refresh_from_db()
    staff.refresh_from_db()
    assert device.confirmed and staff.staff_enrollment_open_until is None
    assert StaffAction.objects.filter(action="staff.factor_enrolled", actor=staff).exists()
    # Not logged in by enrolment; a normal OTP sign-in follows (next time step, the code was used once).
    assert client.get(reverse("admin:index")).status_code == 302
    device.refresh_from_db()
    code = totp_for(device).at(timezone.now() + timedelta(seconds=30))
    response = client.post(reverse("admin:login"), {"username": staff.email, "password": STAFF_PASSWORD, "otp_token": code})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    # The window is closed: enrolling again is refused.
    other = Client()
    response = other.post(reverse("backoffice:enrol"), {"email": staff.email, "password": STAFF_PASSWORD})
    assert response.status_code == 400


def test_wrong_code_keeps_enrolment_pending(client: Client) -> None:
    staff = _open(make_staff("new@anzenpay.example", "support", totp=False))
    client.post(reverse("backoffice:enrol"), {"email": staff.email, "password": STAFF_PASSWORD})
    response = client.post(reverse("backoffice:enrol_confirm"), {"code": "000000"})
    assert response.status_code == 400
    assert "The code is not valid" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
    staff.refresh_from_db()
    assert staff.staff_enrollment_open_until is not None


@pytest.mark.parametrize("case", ["wrong_password", "window_closed", "window_expired", "customer", "unknown", "already_enrolled"])
def test_enrolment_refused_with_one_message(client: Client, case: str) -> None:
    staff = make_staff("new@anzenpay.example", "support", totp=case == "already_enrolled")
    if case != "window_closed":
        _open(staff)
    if case == "window_expired":
        staff.staff_enrollment_open_until = timezone.now() - timedelta(minutes=1)
        staff.save()
    email, password = staff.email, STAFF_PASSWORD
    if case == "wrong_password":
        password = "not the password"
    elif case == "customer":
        customer = make_customer(staff_enrollment_open_until=timezone.now() + timedelta(hours=1))
        email, password = customer.email, "correct horse battery staple"
    elif case == "unknown":
        email = "nobody@anzenpay.example"
    response = client.post(reverse("backoffice:enrol"), {"email": email, "password": password})
    assert response.status_code == 400
    assert "cannot enrol a second factor now" in response.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=False).exists()
    assert client.get(reverse("backoffice:enrol_confirm")).status_code == 302


def test_confirm_without_a_pending_enrolment_goes_back(client: Client) -> None:
    response = client.get(reverse("backoffice:enrol_confirm"))
    assert response.status_code == 302 and response["Location"] == reverse("backoffice:enrol")
