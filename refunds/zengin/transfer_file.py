"""The 総合振込 (種別 21) file: writing one for the bank, and reading one back to check it.

Everything that could make the bank reject the file, or worse accept it and pay the
wrong person, is refused here before a byte is written for that record: a wrong
digit count shifts every later field. Names are never cut: a cut name fails the
receiving bank's name check and the money comes back.

Layout: docs/zengin.md (120-byte records, header 1, data 2, trailer 8, end 9).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from itertools import chain
from typing import BinaryIO

from django.utils.translation import gettext_lazy as _

from .calendar import is_bank_business_day
from .file_format import (
    DATA_ACCOUNT_TYPES,
    LINE_ENDINGS,
    MAX_AMOUNT_YEN,
    MAX_CUSTOMER_CODE,
    MAX_RECORDS,
    MAX_TOTAL_YEN,
    NAME_RE,
    NEW_CODES,
    ORIGINATOR_ACCOUNT_TYPES,
    TRANSFER_KINDS,
    FileSummary,
    Originator,
    ParsedFile,
    ParsedHeader,
    ParsedRecord,
    TransferRecord,
    ZenginFileError,
)
from .file_reader import read_transfer_file
from .names import bank_field_text

__all__ = [
    "FileSummary",
    "Originator",
    "ParsedFile",
    "ParsedHeader",
    "ParsedRecord",
    "TransferRecord",
    "ZenginFileError",
    "read_transfer_file",
    "write_transfer_file",
]

_CHUNK_RECORDS = 4096


def _where(record_number: int | None) -> str:
    return str(_("header")) if record_number is None else str(_("data record %(number)d") % {"number": record_number})


def _invalid(record_number: int | None, field: str, rule: str, value: object) -> ZenginFileError:
    return ZenginFileError(
        _("%(where)s: %(field)s must be %(rule)s, not %(value)r.")
        % {"where": _where(record_number), "field": field, "rule": rule, "value": value}
    )


def _is_digits(value: object, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high and value.isascii() and value.isdigit()


def _is_int(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _is_name(value: object, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit and NAME_RE.fullmatch(value) is not None


def _check_name(record_number: int | None, field: str, value: object, limit: int) -> None:
    if not _is_name(value, limit):
        rule = str(
            _("1–%(limit)d half-width kana, A–Z, 0–9, ( ) - . or inner spaces (normalise it first; it is never cut)") % {"limit": limit}
        )
        raise _invalid(record_number, field, rule, value)


def _check_record(record: TransferRecord, number: int) -> None:
    """The slow path, run only for a record the fast checks refused: say exactly what is wrong."""
    if not isinstance(record, TransferRecord):
        raise _invalid(number, "record", "a TransferRecord", record)
    checks: list[tuple[str, str, bool]] = [
        ("bank_code", "4 digits", _is_digits(record.bank_code, 4, 4)),
        ("branch_code", "3 digits", _is_digits(record.branch_code, 3, 3)),
        ("account_type", "1, 2, 4 or 9", type(record.account_type) is int and record.account_type in DATA_ACCOUNT_TYPES),
        ("account_number", "1–7 digits", _is_digits(record.account_number, 1, 7)),
        ("amount_yen", f"a whole number of yen from 1 to {MAX_AMOUNT_YEN:,}", _is_int(record.amount_yen, 1, MAX_AMOUNT_YEN)),
        ("new_code", "0, 1 or 2", type(record.new_code) is int and record.new_code in NEW_CODES),
        ("customer_code_1", f"an integer from 0 to {MAX_CUSTOMER_CODE}", _is_int(record.customer_code_1, 0, MAX_CUSTOMER_CODE)),
        ("customer_code_2", f"an integer from 0 to {MAX_CUSTOMER_CODE}", _is_int(record.customer_code_2, 0, MAX_CUSTOMER_CODE)),
        ("transfer_kind", '"7" or "0"', record.transfer_kind in TRANSFER_KINDS),
        ("bank_name", "text", isinstance(record.bank_name, str)),
        ("branch_name", "text", isinstance(record.branch_name, str)),
    ]
    for field, rule, ok in checks:
        if not ok:
            raise _invalid(number, field, rule, getattr(record, field))
    _check_name(number, "recipient_name", record.recipient_name, 30)
    raise _invalid(number, "record", "valid", record)  # pragma: no cover - the fast path and this list agree


def _header(originator: Originator, transfer_date: date) -> str:
    o = originator
    if not _is_digits(o.company_code, 1, 10):
        raise _invalid(None, "company_code", "1–10 digits", o.company_code)
    _check_name(None, "company_name", o.company_name, 40)
    if not _is_digits(o.bank_code, 4, 4):
        raise _invalid(None, "bank_code", "4 digits", o.bank_code)
    if not _is_digits(o.branch_code, 3, 3):
        raise _invalid(None, "branch_code", "3 digits", o.branch_code)
    if not (type(o.account_type) is int and o.account_type in ORIGINATOR_ACCOUNT_TYPES):
        raise _invalid(None, "account_type", "1, 2 or 9", o.account_type)
    if not _is_digits(o.account_number, 1, 7):
        raise _invalid(None, "account_number", "1–7 digits", o.account_number)
    if not is_bank_business_day(transfer_date):
        raise ZenginFileError(_("The transfer date %(date)s is not a bank business day.") % {"date": transfer_date.isoformat()})
    return (
        f"1210{o.company_code:0>10}{o.company_name:<40}{transfer_date:%m%d}{o.bank_code}{bank_field_text(o.bank_name, 15):<15}"
        f"{o.branch_code}{bank_field_text(o.branch_name, 15):<15}{o.account_type}{o.account_number:0>7}{'':17}"
    )


def write_transfer_file(
    *, originator: Originator, transfer_date: date, records: Iterable[TransferRecord], out: BinaryIO, line_ending: bytes = b"\r\n"
) -> FileSummary:
    """Stream a complete file to ``out`` and return what an operator needs to verify the upload.

    Records are checked as they stream; on ``ZenginFileError`` ``out`` holds a partial file
    that must be discarded. Nothing is written when the header or the first record is refused.
    """
    if line_ending not in LINE_ENDINGS:
        raise ZenginFileError(_("The line ending must be CRLF, LF, CR or none."))
    ending = line_ending.decode("ascii")
    header = _header(originator, transfer_date)
    iterator = iter(records)
    first = next(iterator, None)
    if first is None:
        raise ZenginFileError(_("A transfer file needs at least one data record."))

    digest = hashlib.sha256()
    size = 0

    def emit(lines: list[str]) -> None:
        nonlocal size
        chunk = (ending.join(lines) + ending).encode("cp932")
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)

    names: dict[str, str] = {}  # bank and branch names recur on nearly every record
    lines = [header]
    count = 0
    total = 0
    for record in chain((first,), iterator):
        count += 1
        try:
            bank, branch, number, name = record.bank_code, record.branch_code, record.account_number, record.recipient_name
            kind, amount, account_type, new_code = record.transfer_kind, record.amount_yen, record.account_type, record.new_code
            code_1, code_2 = record.customer_code_1, record.customer_code_2
            ok = (
                len(bank) == 4
                and bank.isdigit()
                and bank.isascii()
                and len(branch) == 3
                and branch.isdigit()
                and branch.isascii()
                and 0 < len(number) <= 7
                and number.isdigit()
                and number.isascii()
                and type(amount) is int
                and 0 < amount <= MAX_AMOUNT_YEN
                and type(account_type) is int
                and account_type in DATA_ACCOUNT_TYPES
                and type(new_code) is int
                and new_code in NEW_CODES
                and type(code_1) is int
                and 0 <= code_1 <= MAX_CUSTOMER_CODE
                and type(code_2) is int
                and 0 <= code_2 <= MAX_CUSTOMER_CODE
                and kind in TRANSFER_KINDS
                and len(name) <= 30
                and NAME_RE.fullmatch(name) is not None
            )
            bank_name = names.get(record.bank_name)
            if bank_name is None:
                ok = ok and isinstance(record.bank_name, str)
                bank_name = names[record.bank_name] = bank_field_text(record.bank_name, 15)
            branch_name = names.get(record.branch_name)
            if branch_name is None:
                ok = ok and isinstance(record.branch_name, str)
                branch_name = names[record.branch_name] = bank_field_text(record.branch_name, 15)
        except (AttributeError, TypeError):
            ok = False
        if not ok:
            _check_record(record, count)
        total += amount
        if total > MAX_TOTAL_YEN:
            raise ZenginFileError(_("The total exceeds the 12 digits a trailer record can hold; split the batch."))
        if count > MAX_RECORDS:
            raise ZenginFileError(_("More than %(max)d records do not fit in one file; split the batch.") % {"max": MAX_RECORDS})
        lines.append(
            f"2{bank}{bank_name:<15}{branch}{branch_name:<15}0000{account_type}{number:0>7}{name:<30}"
            f"{amount:010d}{new_code}{code_1:010d}{code_2:010d}{kind}        "
        )
        if len(lines) >= _CHUNK_RECORDS:
            emit(lines)
            lines = []

    lines.append(f"8{count:06d}{total:012d}{'':101}")
    lines.append(f"9{'':119}")
    emit(lines)
    return FileSummary(record_count=count, total_yen=total, sha256=digest.hexdigest(), size_bytes=size)
