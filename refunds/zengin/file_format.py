"""The 総合振込 (種別 21) record layout's vocabulary, shared by the writer and the reader.

Layout: docs/zengin.md (120-byte records: header 1, data 2, trailer 8, end 9).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "FileSummary",
    "Originator",
    "ParsedFile",
    "ParsedHeader",
    "ParsedRecord",
    "TransferRecord",
    "ZenginFileError",
]

RECORD_LENGTH = 120
MAX_AMOUNT_YEN = 9_999_999_999
MAX_CUSTOMER_CODE = 9_999_999_999
MAX_TOTAL_YEN = 999_999_999_999
MAX_RECORDS = 999_999
LINE_ENDINGS = (b"\r\n", b"\n", b"\r", b"")
DATA_ACCOUNT_TYPES = (1, 2, 4, 9)
ORIGINATOR_ACCOUNT_TYPES = (1, 2, 9)
NEW_CODES = (0, 1, 2)
TRANSFER_KINDS = ("7", "0")

# A name field: the allowed set, no space at either end. ｱ…ﾝﾞﾟ is the contiguous range U+FF71–U+FF9F.
NAME_CHARS = r"\uFF71-\uFF9FA-Z0-9().\-"
NAME_RE = re.compile(rf"[{NAME_CHARS}](?:[{NAME_CHARS} ]*[{NAME_CHARS}])?")


class ZenginFileError(ValueError):
    """The file would be invalid; ``message`` tells the operator which record and field."""

    def __init__(self, message: object) -> None:
        self.message = str(message)
        super().__init__(self.message)


@dataclass(frozen=True)
class Originator:
    company_code: str
    company_name: str
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: int
    account_number: str


@dataclass(frozen=True)
class TransferRecord:
    bank_code: str
    branch_code: str
    account_type: int
    account_number: str
    recipient_name: str
    amount_yen: int
    new_code: int
    customer_code_1: int
    bank_name: str = ""
    branch_name: str = ""
    customer_code_2: int = 0
    transfer_kind: str = "7"


@dataclass(frozen=True)
class FileSummary:
    record_count: int
    total_yen: int
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ParsedHeader:
    """The header as read; the file names no year, so the date stays ``MMDD``."""

    code_type: str
    company_code: str
    company_name: str
    transfer_mmdd: str
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: int
    account_number: str


@dataclass(frozen=True)
class ParsedRecord:
    """A data record with its 1-based line; with EDI flag ``Y`` the customer codes are 0 and ``edi_text`` holds bytes 92–111."""

    line: int
    record: TransferRecord
    clearing_house: str
    edi_flag: str
    edi_text: str


@dataclass(frozen=True)
class ParsedFile:
    header: ParsedHeader
    records: list[ParsedRecord]
    trailer_count: int
    trailer_total: int
    line_ending: bytes
