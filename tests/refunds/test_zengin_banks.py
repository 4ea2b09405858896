"""The bank master over the zengin-code package: lookups, the autocomplete search and staff overrides.

The package data is real and changes with each release, so only long-standing entries
(みずほ, 三菱UFJ, ゆうちょ) are asserted by name.
"""

from __future__ import annotations

import logging
import time

import pytest

from refunds.zengin import banks
from refunds.zengin.banks import BankEntry, BankMaster, BranchEntry, MasterOverride, build_master, default_master


@pytest.fixture(scope="module")
def master() -> BankMaster:
    return default_master()


def test_long_standing_banks_and_branches_are_known(master: BankMaster) -> None:
    assert master.bank("0001") == BankEntry(code="0001", name="みずほ", kana="ミズホ")
    mufg = master.bank("0005")
    assert mufg is not None and mufg.name.startswith("三菱")
    assert master.bank("9900") == BankEntry(code="9900", name="ゆうちょ", kana="ユウチヨ")
    # ゆうちょ branches are the 店番 the 記号 conversion produces (12340 → 238).
    assert master.branch("9900", "238") == BranchEntry(bank_code="9900", code="238", name="二三八", kana="ニサンハチ")
    assert master.branch("0001", "001") == BranchEntry(bank_code="0001", code="001", name="東京営業部", kana="トウキヨウ")


@pytest.mark.parametrize(("bank_code", "branch_code"), [("9999", ""), ("0000", ""), ("1", ""), ("", "")])
def test_unknown_codes_are_none(master: BankMaster, bank_code: str, branch_code: str) -> None:
    assert master.bank(bank_code) is None
    assert master.branch(bank_code, "001") is None


def test_an_unknown_branch_is_none(master: BankMaster) -> None:
    assert master.branch("0001", "000") is None
    assert master.branch("0001", "1") is None


def codes(entries: list[BankEntry] | list[BranchEntry]) -> list[str]:
    return [entry.code for entry in entries]


def test_a_full_code_finds_that_bank_first(master: BankMaster) -> None:
    assert codes(master.search_banks("0005"))[0] == "0005"
    assert codes(master.search_banks("０００５"))[0] == "0005"  # full-width digits from an IME


def test_a_code_prefix_finds_banks_in_code_order(master: BankMaster) -> None:
    found = codes(master.search_banks("000", limit=50))

    assert found[:2] == ["0001", "0005"]
    assert all(code.startswith("000") for code in found)
    assert found == sorted(found)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("みずほ", "0001"),  # hiragana
        ("ミズホ", "0001"),  # katakana
        ("ﾐｽﾞﾎ", "0001"),  # half-width katakana
        ("mizuho", "0001"),  # romaji
        ("MIZUHO", "0001"),
        ("三菱", "0005"),  # kanji
        ("三菱ＵＦＪ", "0005"),
        ("三菱 UFJ", "0005"),  # spaces are ignored
        ("ufj", "0005"),
        ("ゆうちょ", "9900"),  # the package spells it ユウチヨ: small kana are folded on both sides
        ("ユウチヨ", "9900"),
        ("yuucho", "9900"),  # romaji read as kana
        ("yuuchiyo", "9900"),  # the package's own romaji
        ("じぶん", "0039"),  # contained in the name "ａｕじぶん"
    ],
)
def test_banks_are_found_by_name_kana_hiragana_or_romaji(master: BankMaster, query: str, first: str) -> None:
    assert codes(master.search_banks(query))[0] == first


def test_the_exact_name_ranks_before_names_that_only_start_with_it(master: BankMaster) -> None:
    found = codes(master.search_banks("みずほ"))

    assert found[0] == "0001"
    assert "0289" in found  # みずほ信託 starts with the query
    # A name merely containing the query (埼玉みずほ農協) comes after those starting with it.
    starting = [code for code in found if (bank := master.bank(code)) is not None and bank.name.startswith("みずほ")]
    assert found[: len(starting)] == starting


def test_a_search_respects_the_limit_and_an_empty_query_finds_nothing(master: BankMaster) -> None:
    assert len(master.search_banks("0", limit=3)) == 3
    assert master.search_banks("0", limit=0) == []
    assert master.search_banks("") == []
    assert master.search_banks("   ") == []
    assert master.search_banks("存在しない銀行名") == []


def test_branches_are_searched_within_one_bank(master: BankMaster) -> None:
    found = master.search_branches("0001", "東京")

    assert found[0].code == "001"
    assert all(branch.bank_code == "0001" for branch in found)
    assert codes(master.search_branches("0001", "とうきょう"))[0] == "001"
    assert codes(master.search_branches("0001", "toukyou"))[0] == "001"
    assert codes(master.search_branches("9900", "238")) == ["238"]
    assert codes(master.search_branches("9900", "二三八")) == ["238"]
    assert master.search_branches("9999", "東京") == []


def test_a_branch_code_prefix_lists_branches_in_code_order(master: BankMaster) -> None:
    found = codes(master.search_branches("9900", "23", limit=5))

    assert found and all(code.startswith("23") for code in found)
    assert found == sorted(found)


def test_searches_are_fast_enough_for_keystroke_autocomplete(master: BankMaster) -> None:
    started = time.perf_counter()
    for query in ["み", "みず", "みずほ", "mi", "mitsubishi", "0", "00", "三", "三菱"] * 20:
        master.search_banks(query)
        master.search_branches("0001", query)
    per_search = (time.perf_counter() - started) / 360

    assert per_search < 0.01


# --- overrides -------------------------------------------------------------------------


def override(bank_code: str, branch_code: str = "", name: str = "", kana: str = "", closed: bool = False) -> MasterOverride:
    return MasterOverride(bank_code=bank_code, branch_code=branch_code, name=name, kana=kana, closed=closed)


def test_an_override_renames_a_bank_without_touching_the_shared_default(master: BankMaster) -> None:
    edited = build_master([override("0001", name="みずほテスト", kana="ミズホテスト")])

    assert edited.bank("0001") == BankEntry(code="0001", name="みずほテスト", kana="ミズホテスト")
    assert codes(edited.search_banks("みずほてすと")) == ["0001"]
    assert master.bank("0001") == BankEntry(code="0001", name="みずほ", kana="ミズホ")
    assert default_master().search_banks("みずほてすと") == []
    # Branches of a renamed bank are still there.
    assert edited.branch("0001", "001") == master.branch("0001", "001")


def test_an_override_with_only_kana_keeps_the_name() -> None:
    edited = build_master([override("0001", kana="ミズホギンコウ")])

    assert edited.bank("0001") == BankEntry(code="0001", name="みずほ", kana="ミズホギンコウ")


def test_an_override_adds_a_bank_and_its_branch(master: BankMaster) -> None:
    assert master.bank("0999") is None
    edited = build_master(
        [
            override("0999", "001", name="本店", kana="ホンテン"),  # listed before its bank: banks are applied first
            override("0999", name="アンゼン", kana="アンゼン"),
        ]
    )

    assert edited.bank("0999") == BankEntry(code="0999", name="アンゼン", kana="アンゼン")
    assert edited.branch("0999", "001") == BranchEntry(bank_code="0999", code="001", name="本店", kana="ホンテン")
    assert codes(edited.search_banks("あんぜん")) == ["0999"]
    assert codes(edited.search_branches("0999", "ほんてん")) == ["001"]
    assert master.branch("0999", "001") is None


def test_an_override_adds_and_renames_branches(master: BankMaster) -> None:
    edited = build_master(
        [override("0001", "998", name="新支店", kana="シンシテン"), override("0001", "001", name="東京", kana="トウキヨウ")]
    )

    assert edited.branch("0001", "998") == BranchEntry(bank_code="0001", code="998", name="新支店", kana="シンシテン")
    assert edited.branch("0001", "001") == BranchEntry(bank_code="0001", code="001", name="東京", kana="トウキヨウ")
    assert master.branch("0001", "998") is None
    assert master.branch("0001", "001") == BranchEntry(bank_code="0001", code="001", name="東京営業部", kana="トウキヨウ")
    # Other banks' branch tables are shared, not copied.
    assert edited.branch("9900", "238") == master.branch("9900", "238")


def test_a_closed_branch_disappears_from_lookups_and_search(master: BankMaster) -> None:
    assert master.branch("0001", "004") is not None
    edited = build_master([override("0001", "004", closed=True)])

    assert edited.branch("0001", "004") is None
    assert "004" not in codes(edited.search_branches("0001", "丸の内", limit=100))
    assert master.branch("0001", "004") is not None


def test_a_closed_bank_takes_its_branches_with_it(master: BankMaster) -> None:
    edited = build_master([override("0005", closed=True)])

    assert edited.bank("0005") is None
    assert edited.branch("0005", "001") is None
    assert "0005" not in codes(edited.search_banks("三菱"))
    assert master.bank("0005") is not None


def test_later_overrides_win() -> None:
    edited = build_master([override("0001", name="一", kana="イチ"), override("0001", name="二", kana="ニ")])

    assert edited.bank("0001") == BankEntry(code="0001", name="二", kana="ニ")


def test_malformed_overrides_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="refunds.zengin.banks"):
        edited = build_master([override("1", name="x"), override("0001", "12", closed=True), override("9998", "001", name="孤児")])

    assert edited.bank("1") is None
    assert edited.branch("9998", "001") is None
    assert edited.bank("0001") is not None
    assert len(caplog.records) == 3


def test_the_package_is_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    first = default_master()

    def must_not_reload() -> banks._PackageData:
        raise AssertionError("the package data was loaded again")

    monkeypatch.setattr(banks, "_load_package_data", must_not_reload)

    assert default_master() is first
    assert build_master([]) is first
    edited = build_master([override("0001", name="みずほテスト")])
    assert edited.bank("9900") == first.bank("9900")
