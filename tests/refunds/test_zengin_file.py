"""The 総合振込 writer and reader: a byte-exact golden file, properties over random records, refusals.

The golden bytes are spelled out field by field from the layout in ZENGIN.md, with the
half-width kana as their JIS X 0201 byte values, so they do not depend on the writer.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refunds.zengin.calendar import next_bank_business_day
from refunds.zengin.names import NAME_CHARACTERS, bank_field_text, normalise_holder_name
from refunds.zengin.transfer_file import (
    FileSummary,
    Originator,
    TransferRecord,
    read_transfer_file,
    write_transfer_file,
)

TRANSFER_DATE = date(2026, 11, 4)  # a Wednesday

ORIGINATOR = Originator(
    company_code="1234567890",
    company_name="ｱﾝｾﾞﾝﾍﾟｲ(ｶ",
    bank_code="0001",
    bank_name="ﾐｽﾞﾎ",
    branch_code="001",
    branch_name="ﾄｳｷﾖｳ",
    account_type=1,
    account_number="1234567",
)

RECORDS = [
    TransferRecord(
        bank_code="0005",
        bank_name="ミツビシユ－エフジエイ",  # the package's full-width kana: the writer folds it
        branch_code="001",
        branch_name="ﾏﾙﾉｳﾁ",
        account_type=1,
        account_number="0123456",
        recipient_name="ﾔﾏﾀﾞ ﾀﾛｳ",
        amount_yen=12_345,
        new_code=1,
        customer_code_1=1001,
    ),
    TransferRecord(
        bank_code="9900",
        branch_code="238",
        account_type=1,
        account_number="1234567",
        recipient_name="ｻﾄｳ ﾊﾅｺ",
        amount_yen=9_999_999_999,
        new_code=2,
        customer_code_1=1002,
        customer_code_2=42,
        transfer_kind="0",
    ),
    TransferRecord(
        bank_code="0001",
        bank_name="ミズホ",
        branch_code="004",
        account_type=2,
        account_number="7",  # zero-filled to 7 digits
        recipient_name="ｶ)ｱﾝｾﾞﾝ",
        amount_yen=1,
        new_code=0,
        customer_code_1=9_999_999_999,
    ),
]

# fmt: off
EXPECTED_HEADER = (
    b"1"                                        # 1      record type: header
    + b"21"                                     # 2-3    種別: 総合振込
    + b"0"                                      # 4      code type: JIS
    + b"1234567890"                             # 5-14   委託者コード
    + b"\xb1\xdd\xbe\xde\xdd\xcd\xdf\xb2(\xb6"  # 15-54  ｱﾝｾﾞﾝﾍﾟｲ(ｶ (10 bytes) ...
    + b" " * 30                                 #        ... space-filled to 40
    + b"1104"                                   # 55-58  transfer date MMDD
    + b"0001"                                   # 59-62  our bank
    + b"\xd0\xbd\xde\xce" + b" " * 11           # 63-77  ﾐｽﾞﾎ
    + b"001"                                    # 78-80  our branch
    + b"\xc4\xb3\xb7\xd6\xb3" + b" " * 10       # 81-95  ﾄｳｷﾖｳ
    + b"1"                                      # 96     普通
    + b"1234567"                                # 97-103 our account
    + b" " * 17                                 # 104-120 filler
)
EXPECTED_DATA = [
    (
        b"2"                                                    # 1      record type: data
        + b"0005"                                               # 2-5    bank
        + b"\xd0\xc2\xcb\xde\xbc\xd5-\xb4\xcc\xbc\xde\xb4\xb2"  # 6-20   ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ (13) ...
        + b" " * 2                                              #        ... to 15
        + b"001"                                                # 21-23  branch
        + b"\xcf\xd9\xc9\xb3\xc1" + b" " * 10                   # 24-38  ﾏﾙﾉｳﾁ
        + b"0000"                                               # 39-42  clearing house
        + b"1"                                                  # 43     普通
        + b"0123456"                                            # 44-50  account
        + b"\xd4\xcf\xc0\xde \xc0\xdb\xb3" + b" " * 22          # 51-80  ﾔﾏﾀﾞ ﾀﾛｳ (8)
        + b"0000012345"                                         # 81-90  amount
        + b"1"                                                  # 91     new code: first transfer
        + b"0000001001"                                         # 92-101 customer code 1
        + b"0000000000"                                         # 102-111 customer code 2
        + b"7"                                                  # 112    telegraphic
        + b" "                                                  # 113    EDI flag
        + b" " * 7                                              # 114-120 filler
    ),
    (
        b"2"
        + b"9900"
        + b" " * 15                                             # no bank name given
        + b"238"
        + b" " * 15
        + b"0000"
        + b"1"
        + b"1234567"
        + b"\xbb\xc4\xb3 \xca\xc5\xba" + b" " * 23              # ｻﾄｳ ﾊﾅｺ (7)
        + b"9999999999"
        + b"2"                                                  # changed details
        + b"0000001002"
        + b"0000000042"
        + b"0"                                                  # the kind some banks want
        + b" "
        + b" " * 7
    ),
    (
        b"2"
        + b"0001"
        + b"\xd0\xbd\xde\xce" + b" " * 11                       # ﾐｽﾞﾎ
        + b"004"
        + b" " * 15
        + b"0000"
        + b"2"                                                  # 当座
        + b"0000007"
        + b"\xb6)\xb1\xdd\xbe\xde\xdd" + b" " * 23              # ｶ)ｱﾝｾﾞﾝ (7)
        + b"0000000001"
        + b"0"
        + b"9999999999"
        + b"0000000000"
        + b"7"
        + b" "
        + b" " * 7
    ),
]
EXPECTED_TRAILER = b"8" + b"000003" + b"010000012345" + b" " * 101  # count N6, total N12 (12,345 + 9,999,999,999 + 1)
EXPECTED_END = b"9" + b" " * 119
# fmt: on
EXPECTED_RECORDS = [EXPECTED_HEADER, *EXPECTED_DATA, EXPECTED_TRAILER, EXPECTED_END]


def write(
    records: Any = RECORDS, *, originator: Originator = ORIGINATOR, day: date = TRANSFER_DATE, **options: Any
) -> tuple[bytes, FileSummary]:
    out = io.BytesIO()
    summary = write_transfer_file(originator=originator, transfer_date=day, records=records, out=out, **options)
    return out.getvalue(), summary


def test_the_hand_built_records_are_120_bytes_each() -> None:
    assert [len(record) for record in EXPECTED_RECORDS] == [120] * 6


def test_the_writer_produces_the_golden_file_with_crlf() -> None:
    expected = b"".join(record + b"\r\n" for record in EXPECTED_RECORDS)

    data, summary = write()

    assert data == expected
    assert summary == FileSummary(record_count=3, total_yen=10_000_012_345, sha256=hashlib.sha256(expected).hexdigest(), size_bytes=732)


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r"])
def test_the_writer_produces_the_golden_file_with_other_line_endings(ending: bytes) -> None:
    expected = b"".join(record + ending for record in EXPECTED_RECORDS)

    data, summary = write(line_ending=ending)

    assert data == expected
    assert summary.size_bytes == len(expected) == 6 * (120 + len(ending))
    assert summary.sha256 == hashlib.sha256(expected).hexdigest()


def test_the_golden_file_reads_back() -> None:
    data, _ = write()

    parsed = read_transfer_file(data)

    assert parsed.line_ending == b"\r\n"
    assert parsed.header.company_code == "1234567890"
    assert parsed.header.company_name == "ｱﾝｾﾞﾝﾍﾟｲ(ｶ"
    assert parsed.header.transfer_mmdd == "1104"
    assert (parsed.header.bank_code, parsed.header.bank_name, parsed.header.branch_code) == ("0001", "ﾐｽﾞﾎ", "001")
    assert (parsed.trailer_count, parsed.trailer_total) == (3, 10_000_012_345)
    assert [row.line for row in parsed.records] == [2, 3, 4]
    assert {row.clearing_house for row in parsed.records} == {"0000"}
    first = parsed.records[0].record
    assert first == replace(RECORDS[0], bank_name="ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ")
    assert parsed.records[2].record.account_number == "0000007"


def test_a_generator_of_records_is_streamed_in_chunks() -> None:
    count = 10_000  # more than one write chunk
    record = RECORDS[0]
    out = io.BytesIO()

    summary = write_transfer_file(originator=ORIGINATOR, transfer_date=TRANSFER_DATE, records=(record for _ in range(count)), out=out)

    assert summary.record_count == count
    assert summary.total_yen == count * record.amount_yen
    assert summary.size_bytes == len(out.getvalue()) == (count + 3) * 122
    assert summary.sha256 == hashlib.sha256(out.getvalue()).hexdigest()


# --- properties ------------------------------------------------------------------------

_NAME_INNER = sorted(NAME_CHARACTERS)
_NAME_EDGE = sorted(NAME_CHARACTERS - {" "})


@st.composite
def recipient_names(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(_NAME_EDGE))
    middle = draw(st.text(alphabet=st.sampled_from(_NAME_INNER), max_size=28))
    last = draw(st.sampled_from(_NAME_EDGE))
    return draw(st.sampled_from([first, first + middle + last]))


def digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=low, max_size=high)


transfer_records = st.builds(
    TransferRecord,
    bank_code=digits(4, 4),
    branch_code=digits(3, 3),
    account_type=st.sampled_from([1, 2, 4, 9]),
    account_number=digits(1, 7),
    recipient_name=recipient_names(),
    amount_yen=st.integers(min_value=1, max_value=9_999_999_999),
    new_code=st.sampled_from([0, 1, 2]),
    customer_code_1=st.integers(min_value=0, max_value=9_999_999_999),
    bank_name=st.one_of(st.just(""), st.sampled_from(["ミズホ", "ﾐｽﾞﾎ", "ゆうちょ", "三菱ＵＦＪ"]), st.text(max_size=20)),
    branch_name=st.one_of(st.just(""), st.text(max_size=20)),
    customer_code_2=st.integers(min_value=0, max_value=9_999_999_999),
    transfer_kind=st.sampled_from(["7", "0"]),
)
# At most 50 records of at most 9,999,999,999 yen keeps the total within the trailer's 12 digits.
record_lists = st.lists(transfer_records, min_size=1, max_size=50)
business_days = st.dates(min_value=date(2025, 1, 1), max_value=date(2035, 12, 1)).map(next_bank_business_day)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(records=record_lists, day=business_days, ending=st.sampled_from([b"\r\n", b"\n", b""]))
def test_any_valid_records_make_a_well_formed_file_that_reads_back(records: list[TransferRecord], day: date, ending: bytes) -> None:
    data, summary = write(records, day=day, line_ending=ending)

    if ending:
        lines = data.split(ending)
        assert lines.pop() == b""
    else:
        assert len(data) % 120 == 0
        lines = [data[start : start + 120] for start in range(0, len(data), 120)]
    assert len(lines) == len(records) + 3
    assert all(len(line) == 120 for line in lines)
    text = data.decode("cp932")
    assert len(text) == len(data)  # every character is single-byte
    assert [line[:1] for line in lines] == [b"1"] + [b"2"] * len(records) + [b"8", b"9"]

    trailer = lines[-2].decode("cp932")
    assert int(trailer[1:7]) == len(records)
    assert int(trailer[7:19]) == sum(record.amount_yen for record in records)
    for line in lines[1:-2]:
        assert set(line[50:80].decode("cp932")) <= NAME_CHARACTERS
    assert set(lines[0][14:54].decode("cp932")) <= NAME_CHARACTERS

    assert summary.sha256 == hashlib.sha256(data).hexdigest()
    assert summary.size_bytes == len(data)
    assert (summary.record_count, summary.total_yen) == (len(records), sum(record.amount_yen for record in records))

    parsed = read_transfer_file(data)
    assert parsed.header.transfer_mmdd == f"{day:%m%d}"
    assert (parsed.trailer_count, parsed.trailer_total) == (summary.record_count, summary.total_yen)
    assert [row.record for row in parsed.records] == [
        replace(
            record,
            account_number=record.account_number.zfill(7),
            bank_name=bank_field_text(record.bank_name, 15),
            branch_name=bank_field_text(record.branch_name, 15),
        )
        for record in records
    ]


@given(st.text(alphabet=st.sampled_from(list("やまだたろうガパヴキャッヵーＡＢＣabc１ 　・()-")), min_size=1, max_size=30))
def test_every_name_the_normaliser_accepts_is_accepted_by_the_writer(raw: str) -> None:
    try:
        name = normalise_holder_name(raw)
    except ValueError:
        return
    data, _ = write([replace(RECORDS[0], recipient_name=name)])

    assert read_transfer_file(data).records[0].record.recipient_name == name
