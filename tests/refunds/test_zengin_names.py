"""Holder names folded into the receiving bank's spelling, and everything refused instead of guessed.

No database: these are pure functions (Django is only there for the translated messages).
"""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from refunds.zengin.names import (
    BANK_FIELD_CHARACTERS,
    NAME_CHARACTERS,
    ZenginNameError,
    bank_field_text,
    names_match,
    normalise_holder_name,
    zengin_bytes_length,
)

LEGAL_FORMS = [
    ("株式会社", "ｶ"),
    ("有限会社", "ﾕ"),
    ("合同会社", "ﾄﾞ"),
    ("医療法人", "ｲ"),
    ("財団法人", "ｻﾞｲ"),
    ("社団法人", "ｼﾔ"),
    ("学校法人", "ｶﾞｸ"),
    ("NPO法人", "ﾄｸﾋ"),
    ("ＮＰＯ法人", "ﾄｸﾋ"),
    ("(株)", "ｶ"),
    ("（株）", "ｶ"),
    ("㈱", "ｶ"),
    ("(有)", "ﾕ"),
    ("㈲", "ﾕ"),
]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Voiced and semi-voiced kana split into base + mark, as JIS X 0201 has no precomposed forms.
        ("ガ", "ｶﾞ"),
        ("パ", "ﾊﾟ"),
        ("ヴ", "ｳﾞ"),
        ("ゔ", "ｳﾞ"),
        ("ヤマダ", "ﾔﾏﾀﾞ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # already in bank form: unchanged
        ("ｶﾞｯｺｳ", "ｶﾞﾂｺｳ"),
        # Small kana become large: bank ledgers have no small kana.
        ("キャ", "ｷﾔ"),
        ("ッ", "ﾂ"),
        ("ヵ", "ｶ"),
        ("ヶ", "ｹ"),
        ("ヮ", "ﾜ"),
        ("ァィゥェォ", "ｱｲｳｴｵ"),
        ("ｧｨｩｪｫｬｭｮｯ", "ｱｲｳｴｵﾔﾕﾖﾂ"),
        ("ジョン", "ｼﾞﾖﾝ"),
        # Every dash and long-vowel mark is a hyphen.
        ("ラーメン", "ﾗ-ﾒﾝ"),
        ("ラ－メン", "ﾗ-ﾒﾝ"),
        ("ﾗｰﾒﾝ", "ﾗ-ﾒﾝ"),
        ("ラ‐メン", "ﾗ-ﾒﾝ"),
        ("ラ―メン", "ﾗ-ﾒﾝ"),
        ("ラ−メン", "ﾗ-ﾒﾝ"),
        ("ラ-メン", "ﾗ-ﾒﾝ"),
        ("ラ—メン", "ﾗ-ﾒﾝ"),
        # Hiragana is read as katakana.
        ("やまだ たろう", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("きゃっと", "ｷﾔﾂﾄ"),
        # Full-width and lower-case latin and digits.
        ("ｊｏｈｎ　ｓｍｉｔｈ", "JOHN SMITH"),
        ("John Smith", "JOHN SMITH"),
        ("ＡＢＣ１２３", "ABC123"),
        # The middle dot is a full stop.
        ("ジョン・スミス", "ｼﾞﾖﾝ.ｽﾐｽ"),
        ("ｼﾞｮﾝ･ｽﾐｽ", "ｼﾞﾖﾝ.ｽﾐｽ"),
        # Old kana the bank set lacks.
        ("ヲヰヱ", "ｵｲｴ"),
        ("ｦ", "ｵ"),
        ("ゐゑを", "ｲｴｵ"),
        # Spaces: full-width, runs, tabs and the ends.
        ("  ヤマダ　　タロウ  ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("ヤマダ\tタロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        # Symbols that are allowed stay.
        ("エー(ビー)シー", "ｴ-(ﾋﾞ-)ｼ-"),
    ],
)
def test_a_holder_name_is_folded_into_bank_form(raw: str, expected: str) -> None:
    assert normalise_holder_name(raw) == expected


@pytest.mark.parametrize(("word", "abbreviation"), LEGAL_FORMS)
def test_a_legal_form_at_the_start_is_abbreviated_with_a_closing_parenthesis(word: str, abbreviation: str) -> None:
    assert normalise_holder_name(f"{word}ヤマダ") == f"{abbreviation})ﾔﾏﾀﾞ"
    assert normalise_holder_name(f"{word} ヤマダ") == f"{abbreviation})ﾔﾏﾀﾞ"


@pytest.mark.parametrize(("word", "abbreviation"), LEGAL_FORMS)
def test_a_legal_form_at_the_end_is_abbreviated_with_an_opening_parenthesis(word: str, abbreviation: str) -> None:
    assert normalise_holder_name(f"ヤマダ{word}") == f"ﾔﾏﾀﾞ({abbreviation}"
    assert normalise_holder_name(f"ヤマダ　{word}") == f"ﾔﾏﾀﾞ({abbreviation}"


@pytest.mark.parametrize(("word", "abbreviation"), LEGAL_FORMS)
def test_a_legal_form_in_the_middle_is_abbreviated_in_parentheses(word: str, abbreviation: str) -> None:
    assert normalise_holder_name(f"ヤマダ{word}トウキヨウ") == f"ﾔﾏﾀﾞ({abbreviation})ﾄｳｷﾖｳ"
    assert normalise_holder_name(f"ヤマダ {word} トウキヨウ") == f"ﾔﾏﾀﾞ({abbreviation})ﾄｳｷﾖｳ"


def test_a_legal_form_written_in_lower_case_latin_is_still_recognised() -> None:
    assert normalise_holder_name("npo法人あおぞら") == "ﾄｸﾋ)ｱｵｿﾞﾗ"


@pytest.mark.parametrize(
    ("raw", "code", "shown"),
    [
        ("山田", "kanji", "山"),
        ("やまだ太郎", "kanji", "太"),
        ("株式会社山田", "kanji", "山"),  # the legal form is abbreviated; the name itself is not guessed
        ("佐々木", "kanji", "佐"),
        ("ササ々", "kanji", "々"),
        ("ﾔﾏﾀﾞ😀", "invalid_character", "😀"),
        ("ヤマダ@", "invalid_character", "@"),
        ("ヤマダ/タロウ", "invalid_character", "/"),
        ("O'BRIEN", "invalid_character", "'"),
        ("ヤマダ,タロウ", "invalid_character", ","),
        ("JOSÉ", "invalid_character", "É"),
        ("ヤマダ〜", "invalid_character", "〜"),
        ("ヤマダヽ", "invalid_character", "ヽ"),  # iteration marks are not expanded: that would be a guess
        ("ｱﾞ", "invalid_character", "U+3099"),  # a voicing mark with no voiced form is shown by code point
        ("", "empty", ""),
        ("   ", "empty", ""),
        ("\u3000\t", "empty", ""),
    ],
)
def test_what_cannot_be_folded_without_guessing_is_refused(raw: str, code: str, shown: str) -> None:
    with pytest.raises(ZenginNameError) as caught:
        normalise_holder_name(raw)

    assert caught.value.code == code
    assert caught.value.message
    assert shown in caught.value.message
    assert isinstance(caught.value, ValueError)


def test_a_kanji_refusal_asks_for_kana_as_in_the_bank_book() -> None:
    with translation.override("en"), pytest.raises(ZenginNameError) as caught:
        normalise_holder_name("山田")

    assert "kana" in caught.value.message
    assert "bank book" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "length"),
    [
        ("ｱ" * 31, 31),
        ("ア" * 20 + "イ" * 11, 31),
        ("ダ" * 16, 32),  # 16 characters, but each voiced kana is two bytes
        ("ガ" * 15 + "ア", 31),  # 16 characters typed, 31 bytes
        ("株式会社" + "ア" * 29, 31),  # the abbreviation counts
    ],
)
def test_a_name_over_30_bytes_is_refused_rather_than_cut(raw: str, length: int) -> None:
    with pytest.raises(ZenginNameError) as caught:
        normalise_holder_name(raw)

    assert caught.value.code == "too_long"
    assert str(length) in caught.value.message


@pytest.mark.parametrize("raw", ["ｱ" * 30, "ガ" * 15, "ヤマダ" * 7 + "ﾀﾛ"])
def test_a_name_of_exactly_30_bytes_fits(raw: str) -> None:
    assert zengin_bytes_length(normalise_holder_name(raw)) <= 30


@pytest.mark.parametrize(("text", "length"), [("ｶﾞ", 2), ("ABC", 3), ("", 0), ("ガ", 2), ("山", 2), ("😀", 2), ("ｱ😀", 3)])
def test_bytes_are_counted_as_cp932_and_unencodable_characters_as_two(text: str, length: int) -> None:
    assert zengin_bytes_length(text) == length


KANA_INPUT = st.text(
    alphabet=st.sampled_from(list("あいうえおかがきゃっぱゔアイウエオカガキャッパヴヲヵー－・ABCabc123０１ 　-()")),
    max_size=40,
)


@given(KANA_INPUT)
def test_a_folded_name_is_within_the_character_set_and_30_bytes_and_folds_to_itself(raw: str) -> None:
    try:
        folded = normalise_holder_name(raw)
    except ZenginNameError as error:
        assert error.code in {"empty", "too_long"}
        return
    assert set(folded) <= NAME_CHARACTERS
    assert zengin_bytes_length(folded) <= 30
    assert folded == folded.strip()
    assert "  " not in folded
    assert normalise_holder_name(folded) == folded


@given(st.text(max_size=40))
def test_any_text_is_either_folded_or_refused_with_a_known_code(raw: str) -> None:
    try:
        folded = normalise_holder_name(raw)
    except ZenginNameError as error:
        assert error.code in {"empty", "kanji", "invalid_character", "too_long"}
        assert error.message
        return
    assert set(folded) <= NAME_CHARACTERS
    assert zengin_bytes_length(folded) <= 30


# --- names_match -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holder", "registered", "expected"),
    [
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ", True),
        ("ﾔﾏﾀﾞﾀﾛｳ", "やまだ　たろう", True),  # spaces are ignored
        ("ヤマダ タロウ", "ヤマダタロウ", True),
        ("ｷﾔﾂﾄ", "キャット", True),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ ハナコ", False),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマタ タロウ", False),  # the voicing mark matters
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "山田 太郎", False),  # kanji on the profile cannot be compared
        ("山田 太郎", "ヤマダ タロウ", False),
        ("", "", False),
    ],
)
def test_names_match_compares_as_the_bank_does(holder: str, registered: str, expected: bool) -> None:
    assert names_match(holder, registered) is expected


# --- bank_field_text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kana", "width", "expected"),
    [
        ("ミツビシユ－エフジエイ", 15, "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ"),
        ("みずほ", 15, "ﾐｽﾞﾎ"),
        ("三菱ＵＦＪ", 15, "UFJ"),  # kanji are dropped, never read
        ("ミツビシＵＦＪシンタク", 15, "ﾐﾂﾋﾞｼUFJｼﾝﾀｸ"),
        ("ｱｲｳ(ｴｵ)", 15, "ｱｲｳ ｴｵ"),  # only "-" survives of the symbols
        ("ジョウナン・シンキン", 15, "ｼﾞﾖｳﾅﾝ ｼﾝｷﾝ"),
        ("アイウエオカキクケコサシスセソタ", 15, "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿ"),
        ("ガガガガガガガガ", 15, "ｶﾞｶﾞｶﾞｶﾞｶﾞｶﾞｶﾞ"),  # the 8th ｶ would lose its ﾞ: cut before it
        ("アイウエオカキクケコサシスセ ソ", 15, "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾ"),
        ("", 15, ""),
        ("山田", 15, ""),
        ("!!!", 15, ""),
        ("ミズホ", 0, ""),
    ],
)
def test_bank_field_text_is_best_effort_and_cut_at_a_character_boundary(kana: str, width: int, expected: str) -> None:
    assert bank_field_text(kana, width) == expected


@given(st.text(max_size=40), st.integers(min_value=0, max_value=20))
def test_bank_field_text_never_raises_and_stays_within_the_field(kana: str, width: int) -> None:
    text = bank_field_text(kana, width)

    assert set(text) <= BANK_FIELD_CHARACTERS
    assert zengin_bytes_length(text) <= width
    assert text == text.strip()
    assert not text.startswith(("ﾞ", "ﾟ"))
