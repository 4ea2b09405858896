"""Test builders in one place: customers, staff and money. Plain functions over the real services and models."""

from __future__ import annotations

from tests.factories.customers import enrol_totp, ensure_second_factor, funded_customer, make_customer, make_customer_fast, totp_for
from tests.factories.money import fund_wallet, make_card, make_terminal, payment_code_for
from tests.factories.staff import STAFF_PASSWORD, funded_staff, make_staff, otp_login, staff_signed_in

__all__ = [
    "STAFF_PASSWORD",
    "enrol_totp",
    "ensure_second_factor",
    "fund_wallet",
    "funded_customer",
    "funded_staff",
    "make_card",
    "make_customer",
    "make_customer_fast",
    "make_staff",
    "make_terminal",
    "otp_login",
    "payment_code_for",
    "staff_signed_in",
    "totp_for",
]
