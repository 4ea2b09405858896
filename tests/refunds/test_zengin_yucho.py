"""ゆうちょ 記号・番号 into the 9900 / 店番 / 口座番号 a transfer needs, and the slips refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refunds.zengin.yucho import YuchoNumberError, ZenginAccount, yucho_to_zengin


def test_the_zengin_md_example_converts_to_branch_238() -> None:
    assert yucho_to_zengin(kigou="12340", bangou="12345671") == ZenginAccount(
        bank_code="9900", branch_code="238", account_type=1, account_number="1234567"
    )


def test_a_savings_account_the_customer_names_gets_type_4() -> None:
    account = yucho_to_zengin(kigou="12340", bangou="12345671", savings=True)

    assert (account.branch_code, account.account_type, account.account_number) == ("238", 4, "1234567")


@pytest.mark.parametrize(
    ("kigou", "bangou", "branch", "number"),
    [
        ("10110", "123451", "018", "0012345"),  # a short 番号 is zero-padded after dropping its final 1
        ("19990", "00000011", "998", "0000001"),
        ("14550", "98765431", "458", "9876543"),
    ],
)
def test_a_savings_kigou_starting_with_1_drops_the_final_1(kigou: str, bangou: str, branch: str, number: str) -> None:
    assert yucho_to_zengin(kigou=kigou, bangou=bangou) == ZenginAccount("9900", branch, 1, number)


@pytest.mark.parametrize(
    ("kigou", "bangou", "branch", "number"),
    [
        ("00120", "123456", "019", "0123456"),
        ("01230", "0001234", "129", "0001234"),
        ("00990", "01234567", "099", "1234567"),  # 8 digits, but only 7 significant
    ],
)
def test_a_transfer_account_kigou_starting_with_0_is_toza_with_branch_ending_9(kigou: str, bangou: str, branch: str, number: str) -> None:
    assert yucho_to_zengin(kigou=kigou, bangou=bangou) == ZenginAccount("9900", branch, 2, number)


@pytest.mark.parametrize(
    ("kigou", "bangou"),
    [
        ("１２３４０", "１２３４５６７１"),  # full-width digits, as an IME types them
        ("1-2340", "1234-5671"),
        ("１２３４０", "１２３４５６７－１"),
        (" 12340 ", "1234 5671"),
        ("12340", "12345671"),
    ],
)
def test_full_width_digits_hyphens_and_spaces_are_accepted(kigou: str, bangou: str) -> None:
    assert yucho_to_zengin(kigou=kigou, bangou=bangou) == ZenginAccount("9900", "238", 1, "1234567")


@pytest.mark.parametrize(
    ("kigou", "bangou", "savings", "code"),
    [
        ("1234", "12345671", False, "kigou_format"),
        ("123400", "12345671", False, "kigou_format"),
        ("1234A", "12345671", False, "kigou_format"),
        ("", "12345671", False, "kigou_format"),
        ("١٢٣٤٠", "12345671", False, "kigou_format"),  # Arabic-Indic digits are digits, but not these digits
        ("12340", "", False, "bangou_format"),
        ("12340", "123456781", False, "bangou_format"),  # 9 digits
        ("12340", "1234567X", False, "bangou_format"),
        ("12340", "12345672", False, "bangou_check_digit"),  # a 普通 番号 always ends in 1
        ("12340", "1234567", False, "bangou_check_digit"),
        ("12340", "1", False, "bangou_format"),  # nothing left once the 1 is dropped
        ("12340", "00000001", False, "bangou_format"),
        ("00120", "12345678", False, "bangou_too_long"),
        ("00120", "0", False, "bangou_format"),
        ("00120", "123456", True, "savings_furikae"),
        ("22340", "12345671", False, "kigou_prefix"),
        ("92340", "12345671", False, "kigou_prefix"),
    ],
)
def test_numbers_that_cannot_be_a_yucho_account_are_refused(kigou: str, bangou: str, savings: bool, code: str) -> None:
    with pytest.raises(YuchoNumberError) as caught:
        yucho_to_zengin(kigou=kigou, bangou=bangou, savings=savings)

    assert caught.value.code == code
    assert caught.value.message
    assert isinstance(caught.value, ValueError)


DIGITS = "0123456789"


@given(
    kigou=st.text(DIGITS, min_size=4, max_size=4).map(lambda rest: "1" + rest),
    number=st.text(DIGITS, min_size=1, max_size=7).filter(lambda number: number.strip("0")),
    savings=st.booleans(),
)
def test_any_savings_number_keeps_its_digits_and_always_names_9900(kigou: str, number: str, savings: bool) -> None:
    account = yucho_to_zengin(kigou=kigou, bangou=number + "1", savings=savings)

    assert account.bank_code == "9900"
    assert account.branch_code == kigou[1:3] + "8"
    assert account.account_type == (4 if savings else 1)
    assert account.account_number == number.zfill(7)
    assert len(account.account_number) == 7
