"""Staff accounts: a member of a role, signed in as after the OTP admin login, or with money in a wallet."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories.customers import enrol_totp
from tests.factories.money import fund_wallet
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


def staff_signed_in(client: Client, email: str, role: str) -> User:
    """A member of ``role`` with an authenticator, signed in on ``client`` as after the OTP admin login."""
    user = make_staff(email, role)
    otp_login(client, user)
    return user


def funded_staff(email: str, role: str, amount_yen: int) -> User:
    """A staff member with money in a wallet from before they joined the staff: staff never move
    money through the customer flows themselves (A13), so the top-up happens while they are not staff."""
    staff = make_staff(email, role)
    User.objects.filter(pk=staff.pk).update(is_staff=False)
    fund_wallet(User.objects.get(pk=staff.pk), amount_yen)
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    staff.refresh_from_db()
    return staff
