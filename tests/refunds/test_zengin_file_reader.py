"""Reading a 総合振込 file back: the line endings it accepts and every malformation it refuses.

The files are the hand-built golden records of test_zengin_file, patched byte by byte.
"""

from __future__ import annotations

import pytest

from refunds.zengin.transfer_file import ZenginFileError, read_transfer_file
from tests.refunds.test_zengin_file import EXPECTED_DATA, EXPECTED_END, EXPECTED_HEADER, EXPECTED_RECORDS, EXPECTED_TRAILER


def golden(ending: bytes = b"\r\n") -> bytes:
    return b"".join(record + ending for record in EXPECTED_RECORDS)


def crlf(records: list[bytes]) -> bytes:
    return b"".join(record + b"\r\n" for record in records)


def patched_bytes(data: bytes, line: int, position: int, new: bytes) -> bytes:
    """A CRLF file with bytes replaced at a 1-based line and byte position."""
    buffer = bytearray(data)
    start = (line - 1) * 122 + position - 1
    buffer[start : start + len(new)] = new
    return bytes(buffer)


def patched(line: int, position: int, new: bytes) -> bytes:
    return patched_bytes(golden(), line, position, new)


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r", b""])
def test_the_reader_accepts_each_line_ending(ending: bytes) -> None:
    assert len(read_transfer_file(golden(ending)).records) == 3


def test_the_reader_accepts_a_missing_final_line_ending() -> None:
    assert read_transfer_file(golden()[:-2]).trailer_count == 3


def test_the_reader_returns_edi_text_when_flagged() -> None:
    data = patched(2, 92, b"ABCDEFGHIJ0123456789")
    data = patched_bytes(data, 2, 113, b"Y")

    row = read_transfer_file(data).records[0]
    assert (row.edi_flag, row.edi_text, row.record.customer_code_1) == ("Y", "ABCDEFGHIJ0123456789", 0)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (golden()[:-3], "the end record is cut short"),
        (golden(b"")[:-1], "not a whole number of records"),
        (crlf([EXPECTED_DATA[0], EXPECTED_HEADER, EXPECTED_TRAILER, EXPECTED_END]), "data before header"),
        (crlf([EXPECTED_HEADER, *EXPECTED_DATA, EXPECTED_END]), "no trailer"),
        (crlf([EXPECTED_HEADER, *EXPECTED_DATA, EXPECTED_TRAILER]), "no end record"),
        (golden() + EXPECTED_END + b"\r\n", "a second end record"),
        (crlf([EXPECTED_HEADER, EXPECTED_TRAILER, EXPECTED_END]), "no data records"),
        (patched(5, 2, b"000004"), "trailer count differs"),
        (patched(5, 8, b"010000012346"), "trailer total differs"),
        (patched(2, 81, b"00000X2345"), "non-numeric amount"),
        (patched(2, 81, b"0000000000"), "zero amount"),
        (patched(2, 51, "山田".encode("cp932")), "double-byte characters in a name"),
        (patched(2, 51, "ｦ".encode("cp932")), "ｦ in a name"),
        (patched(2, 51, b" "), "a name starting with a space"),
        (patched(2, 43, b"3"), "account type 3"),
        (patched(2, 91, b"5"), "new code 5"),
        (patched(2, 113, b"X"), "EDI flag X"),
        (patched(2, 114, b"X"), "data filler not spaces"),
        (patched(2, 6, b"("), "a symbol in a bank name"),
        (patched(1, 2, b"11"), "not 総合振込"),
        (patched(1, 4, b"1"), "not JIS"),
        (patched(1, 55, b"1332"), "no such date"),
        (patched(1, 96, b"4"), "originator account type 4"),
        (patched(1, 120, b"X"), "header filler not spaces"),
        (patched(6, 60, b"X"), "end filler not spaces"),
        (patched(2, 50, b"\x81"), "not valid cp932"),
    ],
)
def test_the_reader_refuses_a_malformed_file(data: bytes, why: str) -> None:
    with pytest.raises(ZenginFileError) as caught:
        read_transfer_file(data)

    assert caught.value.message
