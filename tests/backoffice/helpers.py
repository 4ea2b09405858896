"""Staff builders, kept importable from their old place: they live in tests/factories/staff.py."""

from __future__ import annotations

from tests.factories import STAFF_PASSWORD, make_staff, otp_login

__all__ = ["STAFF_PASSWORD", "make_staff", "otp_login"]
