"""Reading a 総合振込 file back: what an operator runs before uploading one to the bank.

Stricter than most banks: anything the writer would not produce is an error, so a file
edited by hand or produced by another tool is caught before the bank sees it.
"""

from __future__ import annotations

import re
from datetime import date

from django.utils.translation import gettext_lazy as _

from .file_format import (
    DATA_ACCOUNT_TYPES,
    NAME_RE,
    NEW_CODES,
    ORIGINATOR_ACCOUNT_TYPES,
    RECORD_LENGTH,
    ParsedFile,
    ParsedHeader,
    ParsedRecord,
    TransferRecord,
    ZenginFileError,
)
from .names import BANK_FIELD_CHARACTERS

__all__ = ["read_transfer_file"]


def _bad(line: int, problem: object) -> ZenginFileError:
    return ZenginFileError(_("Line %(line)d: %(problem)s") % {"line": line, "problem": problem})


def _split(data: bytes) -> tuple[list[bytes], bytes]:
    if data[RECORD_LENGTH : RECORD_LENGTH + 2] == b"\r\n":
        ending = b"\r\n"
    elif data[RECORD_LENGTH : RECORD_LENGTH + 1] in (b"\n", b"\r"):
        ending = data[RECORD_LENGTH : RECORD_LENGTH + 1]
    else:
        ending = b""
    if ending:
        chunks = data.split(ending)
        if chunks and chunks[-1] == b"":
            chunks.pop()
    else:
        if len(data) % RECORD_LENGTH:
            raise ZenginFileError(_("The file is %(size)d bytes: not a whole number of 120-byte records.") % {"size": len(data)})
        chunks = [data[start : start + RECORD_LENGTH] for start in range(0, len(data), RECORD_LENGTH)]
    return chunks, ending


def _text(chunk: bytes, line: int) -> str:
    if len(chunk) != RECORD_LENGTH:
        raise _bad(line, _("the record is %(size)d bytes, not 120.") % {"size": len(chunk)})
    try:
        text = chunk.decode("cp932")
    except UnicodeDecodeError as exc:
        raise _bad(line, _("the record is not valid cp932: %(value)r") % {"value": chunk}) from exc
    if len(text) != RECORD_LENGTH:
        raise _bad(line, _("the record holds double-byte characters: %(value)r") % {"value": text})
    return text


def _number(text: str, line: int, field: object, start: int, end: int) -> str:
    value = text[start:end]
    if not (value.isascii() and value.isdigit()):
        raise _bad(
            line,
            _("%(field)s (bytes %(start)d–%(end)d) is not numeric: %(value)r")
            % {"field": field, "start": start + 1, "end": end, "value": value},
        )
    return value


def _name(text: str, line: int, field: object, start: int, end: int, *, bank_field: bool) -> str:
    value = text[start:end].rstrip(" ")
    ok = set(value) <= BANK_FIELD_CHARACTERS if bank_field else NAME_RE.fullmatch(value) is not None
    if not ok:
        raise _bad(
            line,
            _("%(field)s (bytes %(start)d–%(end)d) is empty or has characters outside the Zengin set: %(value)r")
            % {"field": field, "start": start + 1, "end": end, "value": value},
        )
    return value


def _filler(text: str, line: int, start: int) -> None:
    if text[start:].strip(" "):
        raise _bad(line, _("the filler from byte %(start)d is not spaces: %(value)r") % {"start": start + 1, "value": text[start:]})


def _parse_header(text: str, line: int) -> ParsedHeader:
    if text[1:3] != "21":
        raise _bad(line, _("the file kind is %(value)r, not 21 (総合振込).") % {"value": text[1:3]})
    if text[3] != "0":
        raise _bad(line, _("the code type is %(value)r, not 0 (JIS).") % {"value": text[3]})
    mmdd = _number(text, line, _("transfer date"), 54, 58)
    try:
        date(2000, int(mmdd[:2]), int(mmdd[2:]))  # a leap year, so 0229 passes
    except ValueError as exc:
        raise _bad(line, _("the transfer date %(value)r is not a date.") % {"value": mmdd}) from exc
    account_type = int(_number(text, line, _("account type"), 95, 96))
    if account_type not in ORIGINATOR_ACCOUNT_TYPES:
        raise _bad(line, _("the account type %(value)d is not 1, 2 or 9.") % {"value": account_type})
    _filler(text, line, 103)
    return ParsedHeader(
        code_type=text[3],
        company_code=_number(text, line, _("company code"), 4, 14),
        company_name=_name(text, line, _("company name"), 14, 54, bank_field=False),
        transfer_mmdd=mmdd,
        bank_code=_number(text, line, _("bank code"), 58, 62),
        bank_name=_name(text, line, _("bank name"), 62, 77, bank_field=True),
        branch_code=_number(text, line, _("branch code"), 77, 80),
        branch_name=_name(text, line, _("branch name"), 80, 95, bank_field=True),
        account_type=account_type,
        account_number=_number(text, line, _("account number"), 96, 103),
    )


def _parse_data(text: str, line: int) -> ParsedRecord:
    clearing = text[38:42]
    if clearing != "    " and not (clearing.isascii() and clearing.isdigit()):
        raise _bad(line, _("the clearing-house number %(value)r is neither digits nor spaces.") % {"value": clearing})
    account_type = int(_number(text, line, _("account type"), 42, 43))
    if account_type not in DATA_ACCOUNT_TYPES:
        raise _bad(line, _("the account type %(value)d is not 1, 2, 4 or 9.") % {"value": account_type})
    amount = int(_number(text, line, _("amount"), 80, 90))
    if amount < 1:
        raise _bad(line, _("the amount is zero."))
    new_code = int(_number(text, line, _("new code"), 90, 91))
    if new_code not in NEW_CODES:
        raise _bad(line, _("the new code %(value)d is not 0, 1 or 2.") % {"value": new_code})
    edi_flag = text[112]
    if edi_flag == "Y":
        edi_text, code_1, code_2 = text[91:111], 0, 0
    elif edi_flag == " ":
        edi_text = ""
        code_1 = int(_number(text, line, _("customer code 1"), 91, 101))
        code_2 = int(_number(text, line, _("customer code 2"), 101, 111))
    else:
        raise _bad(line, _("the EDI flag %(value)r is neither Y nor a space.") % {"value": edi_flag})
    kind = _number(text, line, _("transfer kind"), 111, 112)
    _filler(text, line, 113)
    record = TransferRecord(
        bank_code=_number(text, line, _("bank code"), 1, 5),
        bank_name=_name(text, line, _("bank name"), 5, 20, bank_field=True),
        branch_code=_number(text, line, _("branch code"), 20, 23),
        branch_name=_name(text, line, _("branch name"), 23, 38, bank_field=True),
        account_type=account_type,
        account_number=_number(text, line, _("account number"), 43, 50),
        recipient_name=_name(text, line, _("recipient name"), 50, 80, bank_field=False),
        amount_yen=amount,
        new_code=new_code,
        customer_code_1=code_1,
        customer_code_2=code_2,
        transfer_kind=kind,
    )
    return ParsedRecord(line=line, record=record, clearing_house=clearing, edi_flag=edi_flag, edi_text=edi_text)


def read_transfer_file(data: bytes) -> ParsedFile:
    """Parse and check a whole file, as an operator does before uploading it to the bank.

    Stricter than most banks: anything this writer would not produce is an error, so a
    file edited by hand or produced elsewhere is caught before the bank sees it.
    """
    if not data:
        raise ZenginFileError(_("The file is empty."))
    chunks, ending = _split(data)
    texts = [_text(chunk, line) for line, chunk in enumerate(chunks, start=1)]
    kinds = "".join(text[0] for text in texts)
    if not re.fullmatch(r"12+89", kinds):
        raise ZenginFileError(
            _("The records must be one header (1), one or more data records (2), a trailer (8) and an end record (9); found %(kinds)s.")
            % {"kinds": kinds[:40]}
        )
    header = _parse_header(texts[0], 1)
    records = [_parse_data(text, line) for line, text in enumerate(texts[1:-2], start=2)]
    trailer_line = len(texts) - 1
    trailer = texts[-2]
    count = int(_number(trailer, trailer_line, _("record count"), 1, 7))
    total = int(_number(trailer, trailer_line, _("total"), 7, 19))
    _filler(trailer, trailer_line, 19)
    _filler(texts[-1], len(texts), 1)
    if count != len(records):
        raise _bad(
            trailer_line, _("the trailer counts %(count)d records but the file has %(actual)d.") % {"count": count, "actual": len(records)}
        )
    actual_total = sum(parsed.record.amount_yen for parsed in records)
    if total != actual_total:
        raise _bad(
            trailer_line,
            _("the trailer total %(total)d differs from the data records' total %(actual)d.") % {"total": total, "actual": actual_total},
        )
    return ParsedFile(header=header, records=records, trailer_count=count, trailer_total=total, line_ending=ending)
