"""ゆうちょ銀行 accounts: the 記号・番号 on the passbook into the bank/branch/account a transfer needs.

Customers only know their Japan Post Bank account by 記号 and 番号; a 総合振込 file
needs 店番 and a 7-digit 口座番号 instead. The conversion is mechanical, but the one
check it allows (the 普通 番号 ends in 1) catches the commonest typing slip, so a
failing number is refused rather than repaired.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

__all__ = ["YUCHO_BANK_CODE", "YuchoNumberError", "ZenginAccount", "yucho_to_zengin"]

YUCHO_BANK_CODE = "9900"

# Separators customers type or paste between digit groups; removed before checking.
_SEPARATORS = str.maketrans(dict.fromkeys(" -‐‑‒–—―−ー", ""))


@dataclass(frozen=True)
class ZenginAccount:
    bank_code: str
    branch_code: str
    account_type: int
    account_number: str


class YuchoNumberError(ValueError):
    """A 記号・番号 that cannot be a Japan Post Bank account; ``message`` is for the customer."""

    def __init__(self, code: str, message: object) -> None:
        self.code = code
        self.message = str(message)
        super().__init__(self.message)


def _digits(raw: str) -> str:
    """Full-width digits and hyphens are what a Japanese IME produces by default."""
    text = unicodedata.normalize("NFKC", raw).translate(_SEPARATORS)
    return text if text.isascii() and text.isdigit() else ""


def yucho_to_zengin(*, kigou: str, bangou: str, savings: bool = False) -> ZenginAccount:
    """The account a bank transfer must name to reach this 記号・番号.

    ``savings`` is needed because a 貯蓄貯金 and a 通常貯金 share the same number
    format: only the customer can say which one it is.
    """
    kigou_digits = _digits(kigou)
    if len(kigou_digits) != 5:
        raise YuchoNumberError("kigou_format", _("The 記号 (symbol) is the 5-digit number printed first in the passbook."))
    bangou_digits = _digits(bangou)
    if not 1 <= len(bangou_digits) <= 8:
        raise YuchoNumberError("bangou_format", _("The 番号 (number) is the number of up to 8 digits printed after the 記号."))

    first = kigou_digits[0]
    if first == "1":
        if bangou_digits[-1] != "1":
            raise YuchoNumberError(
                "bangou_check_digit",
                _("For a 記号 starting with 1, the 番号 always ends in 1. Please check the number in the passbook."),
            )
        account = bangou_digits[:-1].lstrip("0")
        if not account:
            raise YuchoNumberError("bangou_format", _("This 番号 is not a valid account number. Please check the passbook."))
        return ZenginAccount(
            bank_code=YUCHO_BANK_CODE,
            branch_code=kigou_digits[1:3] + "8",
            account_type=4 if savings else 1,
            account_number=account.zfill(7),
        )
    if first == "0":
        if savings:
            raise YuchoNumberError(
                "savings_furikae",
                _("A 記号 starting with 0 is a transfer account (振替口座), which cannot be a savings account (貯蓄)."),
            )
        account = bangou_digits.lstrip("0")
        if not account:
            raise YuchoNumberError("bangou_format", _("This 番号 is not a valid account number. Please check the passbook."))
        if len(account) > 7:
            raise YuchoNumberError(
                "bangou_too_long",
                _("For a transfer account (記号 starting with 0), the 番号 has at most 7 digits after leading zeros."),
            )
        return ZenginAccount(
            bank_code=YUCHO_BANK_CODE,
            branch_code=kigou_digits[1:3] + "9",
            account_type=2,
            account_number=account.zfill(7),
        )
    raise YuchoNumberError("kigou_prefix", _("A ゆうちょ 記号 starts with 1 (savings accounts) or 0 (transfer accounts)."))
