"""Staff accounts for back-office tests."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import enrol_totp
from wallet.models import User

STAFF_PASSWORD = "staff horse battery staple"


def make_staff(email: str, role: str | None = None, *, superuser: bool = False, totp: bool = True) -> User:
    if superuser:
        user = User.objects.create_superuser(email, STAFF_PASSWORD, full_name="Super")
    else:
        user = User.objects.create_user(email, STAFF_PASSWORD, full_name=email.split("@")[0], is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    if totp:
        enrol_totp(user)
    return user


def otp_login(client: Client, user: User) -> Client:
    """A session as after the OTP admin login: password and a verified device."""
    client.force_login(user)
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
