"""Turning what a customer typed into payee details a bank or Japan Post will
accept: bank and branch from the Zengin master, a 7-digit account number, the
holder's name in Zengin kana, or ゆうちょ 記号・番号 converted (ZENGIN.md).

Errors are per field, so the form can show each next to its input."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from wallet.field_length import fit

from ..models import PostalDetails
from ..zengin.names import ZenginNameError, normalise_holder_name
from ..zengin.yucho import YuchoNumberError, yucho_to_zengin
from .banks import bank_master

YUCHO_BANK_CODE = "9900"
ACCOUNT_TYPES = (1, 2, 4)
POSTAL_CODE = re.compile(r"^\d{3}-?\d{4}$")


class PayeeInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


@dataclass(frozen=True)
class CleanBankDetails:
    bank_code: str
    bank_name: str
    bank_name_kana: str
    branch_code: str
    branch_name: str
    branch_name_kana: str
    account_type: int
    account_number: str
    holder_name: str
    yucho_kigou: str = ""
    yucho_bangou: str = ""


@dataclass(frozen=True)
class CleanPostalDetails:
    name: str
    name_kana: str
    postal_code: str
    address: str


def _digits(raw: str) -> str:
    return re.sub(r"[\s\-‐－ー]", "", unicodedata.normalize("NFKC", raw or ""))


def bank_details_clean(
    *,
    bank_code: str,
    branch_code: str = "",
    account_type: int | str | None = None,
    account_number: str = "",
    holder_name: str,
    yucho_kigou: str = "",
    yucho_bangou: str = "",
    yucho_savings: bool = False,
) -> CleanBankDetails:
    """Raise ``PayeeInvalid`` with a message per bad field; return details ready for a Zengin record."""
    errors: dict[str, str] = {}
    bank_code = _digits(bank_code)
    kigou, bangou = _digits(yucho_kigou), _digits(yucho_bangou)
    master = bank_master()
    yucho = bank_code == YUCHO_BANK_CODE and bool(kigou or bangou)
    yucho_failed = False
    if yucho:
        try:
            converted = yucho_to_zengin(kigou=kigou, bangou=bangou, savings=yucho_savings)
        except YuchoNumberError as exc:
            # The message names the part that is wrong; put it next to that input.
            field = "yucho_kigou" if exc.code.startswith("kigou") else "yucho_savings" if exc.code.startswith("savings") else "yucho_bangou"
            errors[field] = str(exc)
            converted = None
            yucho_failed = True
        if converted is not None:
            branch_code, account_number, account_type = converted.branch_code, converted.account_number, converted.account_type
    else:
        kigou = bangou = ""
        branch_code = _digits(branch_code)
        account_number = _digits(account_number)
    bank = master.bank(bank_code) if re.fullmatch(r"\d{4}", bank_code) else None
    if bank is None:
        errors["bank_code"] = str(_("Choose a bank from the list: there is no bank with code %(code)s.") % {"code": bank_code or "—"})
    branch = master.branch(bank_code, branch_code) if bank is not None and re.fullmatch(r"\d{3}", branch_code or "") else None
    if bank is not None and branch is None and not yucho_failed:
        field = "yucho_kigou" if kigou else "branch_code"
        errors[field] = str(_("This bank has no branch with code %(code)s.") % {"code": branch_code or "—"})
    try:
        account_type_value = int(account_type) if account_type not in (None, "") else 0
    except (TypeError, ValueError):
        account_type_value = 0
    # A failed ゆうちょ conversion has no account type or number yet: its own error says what to fix.
    if account_type_value not in ACCOUNT_TYPES and not yucho_failed:
        errors["account_type"] = str(_("Choose the account type: ordinary, current or savings."))
    if not yucho and not re.fullmatch(r"\d{1,7}", account_number or ""):
        errors["account_number"] = str(_("The account number is 1 to 7 digits."))
    try:
        holder = normalise_holder_name(holder_name)
    except ZenginNameError as exc:
        errors["holder_name"] = str(exc)
        holder = ""
    if errors:
        raise PayeeInvalid(errors)
    assert bank is not None and branch is not None
    return CleanBankDetails(
        bank_code=bank.code,
        bank_name=bank.name,
        bank_name_kana=bank.kana,
        branch_code=branch.code,
        branch_name=branch.name,
        branch_name_kana=branch.kana,
        account_type=account_type_value,
        account_number=account_number.zfill(7),
        holder_name=holder,
        yucho_kigou=kigou,
        yucho_bangou=bangou,
    )


def postal_details_clean(*, name: str, name_kana: str = "", postal_code: str, address: str) -> CleanPostalDetails:
    errors: dict[str, str] = {}
    name = " ".join(unicodedata.normalize("NFKC", name or "").split())
    address = " ".join(unicodedata.normalize("NFKC", address or "").split())
    # A Japanese IME types the hyphen as ー, − or ‐; NFKC leaves those alone.
    code = re.sub(r"[‐‑–—−ー]", "-", unicodedata.normalize("NFKC", postal_code or "")).strip()
    if not name or len(name) > 150:
        errors["name"] = str(_("Give the name the certificate is made out to (at most 150 characters)."))
    if not POSTAL_CODE.match(code):
        errors["postal_code"] = str(_("A postal code is seven digits, like 100-0001."))
    if len(address) < 5 or len(address) > 300:
        errors["address"] = str(_("Give the full address, from the prefecture to the building and room."))
    if errors:
        raise PayeeInvalid(errors)
    digits = code.replace("-", "")
    return CleanPostalDetails(
        name=name,
        name_kana=fit(PostalDetails, "name_kana", (name_kana or "").strip()),
        postal_code=f"{digits[:3]}-{digits[3:]}",
        address=address,
    )
