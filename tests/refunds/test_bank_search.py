"""The bank pickers' JSON over the Zengin master (with staff overrides) and the query folding."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from refunds.forms.bank import bank_pick, branch_pick, query_simplify
from refunds.models import BankMasterOverride
from refunds.services.banks import bank_master_invalidate

pytestmark = pytest.mark.django_db


def codes(response: object) -> list[str]:
    return [row["code"] for row in response.json()["results"]]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_master() -> None:
    bank_master_invalidate()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("みずほ", "0001"),
        ("ミズホ", "0001"),
        ("mizuho", "0001"),
        ("0001", "0001"),
        ("みずほ銀行", "0001"),
        ("ゆうちょ", "9900"),
        ("yuucho", "9900"),
    ],
)
def test_banks_by_name_kana_romaji_code_and_with_the_word_bank(query: str, expected: str) -> None:
    response = Client().get(reverse("refunds:bank_search"), {"q": query})
    assert response.status_code == 200
    assert codes(response)[0] == expected
    first = response.json()["results"][0]
    assert set(first) == {"code", "label", "kana"} and first["label"].endswith(f"({expected})")


def test_labels_are_readable_and_answers_cacheable() -> None:
    response = Client().get(reverse("refunds:bank_search"), {"q": "0005"})
    assert response.json()["results"][0]["label"] == "三菱UFJ (0005)", "full-width letters folded for reading"
    assert "max-age" in response["Cache-Control"]
    assert Client().get(reverse("refunds:bank_search"), {"q": ""}).json()["results"] == []
    long = Client().get(reverse("refunds:bank_search"), {"q": "み" * 500})
    assert long.status_code == 200 and len(long.json()["query"]) <= 40


def test_branches_of_one_bank() -> None:
    url = reverse("refunds:branch_search", args=["0001"])
    assert codes(Client().get(url, {"q": "東京営業部"}))[0] == "001"
    assert codes(Client().get(url, {"q": "001"}))[0] == "001"
    assert codes(Client().get(url, {"q": "新宿支店"})), "the word 支店 is dropped"
    assert len(codes(Client().get(url, {"q": "東京"}))) > 1
    missing = Client().get(reverse("refunds:branch_search", args=["9998"]), {"q": "x"})
    assert missing.status_code == 404 and missing.json()["results"] == []


def test_staff_overrides_are_applied() -> None:
    BankMasterOverride.objects.create(bank_code="0001", branch_code="001", closed=True, note="merged")
    BankMasterOverride.objects.create(bank_code="0001", branch_code="999", name="テスト支店", kana="テスト")
    url = reverse("refunds:branch_search", args=["0001"])
    assert "001" not in codes(Client().get(url, {"q": "東京営業部"}))
    assert codes(Client().get(url, {"q": "テスト"})) == ["999"]


def test_query_folding() -> None:
    assert query_simplify("みずほ銀行") == "みずほ"
    assert query_simplify("城南信用金庫") == "城南信金"
    assert query_simplify("新宿支店", branch=True) == "新宿"
    assert query_simplify("みずほ (0001)") == "みずほ"
    assert query_simplify("銀行") == "銀行", "a suffix alone is kept"


def test_resolving_what_was_typed_without_the_script() -> None:
    assert (pick := bank_pick("みずほ", "")).entry is not None and pick.entry.code == "0001", "an exact name wins"
    assert bank_pick("mizuho", "0001").entry is not None, "a picked code wins"
    assert bank_pick("みずほ (0001)", "").entry is not None, "a label the script filled in"
    several = bank_pick("三菱", "")
    assert several.entry is None and len(several.choices) > 1 and "Several banks match" in several.error
    assert "No bank matches" in bank_pick("存在しない銀行名", "").error
    assert "no bank with the code 9998" in bank_pick("9998", "").error
    assert bank_pick("", "").error
    assert branch_pick("0001", "1", "").entry is not None and branch_pick("0001", "1", "").entry.code == "001"  # type: ignore[union-attr]
    assert "Several branches" in branch_pick("0001", "東京", "").error
