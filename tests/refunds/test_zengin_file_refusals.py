"""What the 総合振込 writer refuses: anything that would shift a field or make the bank reject the file."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from refunds.zengin import transfer_file
from refunds.zengin.transfer_file import ZenginFileError, read_transfer_file, write_transfer_file
from tests.refunds.test_zengin_file import ORIGINATOR, RECORDS, TRANSFER_DATE, write


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bank_code", "005"),
        ("bank_code", "00051"),
        ("bank_code", "０００５"),
        ("bank_code", "00a5"),
        ("bank_code", 5),
        ("branch_code", "01"),
        ("branch_code", "0011"),
        ("account_type", 3),
        ("account_type", 0),
        ("account_type", "1"),
        ("account_type", True),
        ("account_number", ""),
        ("account_number", "12345678"),
        ("account_number", "12-3456"),
        ("account_number", "１２３"),
        ("recipient_name", ""),
        ("recipient_name", " "),
        ("recipient_name", "ﾔﾏﾀﾞ "),
        ("recipient_name", " ﾔﾏﾀﾞ"),
        ("recipient_name", "ヤマダ"),  # full-width: not normalised
        ("recipient_name", "ﾔﾏﾀﾞｰ"),  # the long-vowel mark is allowed nowhere
        ("recipient_name", "ｦｶﾞﾜ"),
        ("recipient_name", "ｷｬｯﾄ"),  # small kana
        ("recipient_name", "山田"),
        ("recipient_name", "ﾔﾏﾀﾞ/ﾀﾛｳ"),
        ("recipient_name", "yamada"),
        ("recipient_name", "ｱ" * 31),  # never cut
        ("recipient_name", None),
        ("amount_yen", 0),
        ("amount_yen", -1),
        ("amount_yen", 10_000_000_000),
        ("amount_yen", 1.0),
        ("amount_yen", True),
        ("amount_yen", "100"),
        ("new_code", 3),
        ("new_code", -1),
        ("new_code", True),
        ("customer_code_1", -1),
        ("customer_code_1", 10_000_000_000),
        ("customer_code_2", "1"),
        ("transfer_kind", "1"),
        ("transfer_kind", ""),
        ("transfer_kind", 7),
        ("bank_name", 5),
        ("branch_name", ["x"]),
    ],
)
def test_a_record_that_would_break_the_file_is_refused_and_named(field: str, value: Any) -> None:
    bad = replace(RECORDS[1], **{field: value})

    with pytest.raises(ZenginFileError) as caught:
        write([RECORDS[0], bad])

    assert field in caught.value.message
    assert "2" in caught.value.message  # the record's number


def test_a_refused_first_record_writes_nothing() -> None:
    out = io.BytesIO()
    with pytest.raises(ZenginFileError):
        write_transfer_file(originator=ORIGINATOR, transfer_date=TRANSFER_DATE, records=[replace(RECORDS[0], amount_yen=0)], out=out)

    assert out.getvalue() == b""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company_code", "12345678901"),
        ("company_code", "12345ABCDE"),
        ("company_code", ""),
        ("company_name", ""),
        ("company_name", "アンゼンペイ"),
        ("company_name", "ｱ" * 41),
        ("bank_code", "01"),
        ("branch_code", "1"),
        ("account_type", 4),  # 貯蓄 exists for recipients only
        ("account_number", "12345678"),
    ],
)
def test_a_bad_originator_is_refused_before_anything_is_written(field: str, value: Any) -> None:
    out = io.BytesIO()
    with pytest.raises(ZenginFileError) as caught:
        write_transfer_file(originator=replace(ORIGINATOR, **{field: value}), transfer_date=TRANSFER_DATE, records=RECORDS, out=out)

    assert field in caught.value.message
    assert out.getvalue() == b""


def test_a_company_name_of_40_bytes_fits() -> None:
    data, _ = write(originator=replace(ORIGINATOR, company_name="ｱ" * 40))

    assert read_transfer_file(data).header.company_name == "ｱ" * 40


@pytest.mark.parametrize("day", [date(2026, 11, 3), date(2026, 11, 7), date(2026, 11, 8), date(2026, 12, 31), date(2027, 1, 2)])
def test_a_transfer_date_that_is_not_a_bank_business_day_is_refused(day: date) -> None:
    with pytest.raises(ZenginFileError, match=day.isoformat()):
        write(day=day)


def test_a_file_without_records_is_refused() -> None:
    with pytest.raises(ZenginFileError):
        write([])


def test_an_unknown_line_ending_is_refused() -> None:
    with pytest.raises(ZenginFileError):
        write(line_ending=b"\r\r")


def test_a_total_beyond_12_digits_is_refused() -> None:
    biggest = replace(RECORDS[0], amount_yen=9_999_999_999)

    _, summary = write([biggest] * 100)
    assert summary.total_yen == 999_999_999_900
    with pytest.raises(ZenginFileError):
        write([biggest] * 101)


def test_more_records_than_the_trailer_can_count_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer_file, "MAX_RECORDS", 5)  # stands in for 999,999

    assert write([RECORDS[0]] * 5)[1].record_count == 5
    with pytest.raises(ZenginFileError):
        write([RECORDS[0]] * 6)
