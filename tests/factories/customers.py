"""Customers: verified accounts, their authenticator, and a customer with money in the wallet."""

from __future__ import annotations

import base64
from typing import Any

import pyotp
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet.models import User

CUSTOMER_PASSWORD = "correct horse battery staple"


def totp_for(device: TOTPDevice) -> pyotp.TOTP:
    """An independent TOTP implementation computing codes from the device's secret."""
    return pyotp.TOTP(base64.b32encode(device.bin_key).decode())


def make_customer(email: str = "hanako@example.jp", password: str | None = CUSTOMER_PASSWORD, **extra: object) -> User:
    """A customer with a verified e-mail address and phone; ``extra`` overrides any field (``password=None``: no usable password)."""
    now = timezone.now()
    defaults: dict[str, object] = {
        "full_name": "山田 花子",
        "name_kana": "ヤマダ ハナコ",
        "phone": "+819012345678",
        "email_verified_at": now,
        "phone_verified_at": now,
    }
    defaults.update(extra)
    return User.objects.create_user(email, password, **defaults)


def make_customer_fast(email: str, full_name: str = "Fast") -> User:
    """A verified customer without a password hash, kana or phone, for tests that build many (hashing would only slow them down)."""
    return make_customer(email, None, full_name=full_name, name_kana="", phone="")


def enrol_totp(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True, tolerance=1)


def ensure_second_factor(user: User) -> None:
    """A13: only an account with a confirmed authenticator moves money; a customer who pays has one."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        enrol_totp(user)


def funded_customer(email: str = "hanako@example.jp", amount_yen: int = 12_345, **extra: Any) -> User:
    """A customer who has cashed in ``amount_yen`` at a store register."""
    # Imported here: the money builders need ensure_second_factor from this module.
    from tests.factories.money import fund_wallet

    customer = make_customer(email, **extra)
    fund_wallet(customer, amount_yen)
    return customer
