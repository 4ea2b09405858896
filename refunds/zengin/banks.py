"""The bank and branch master behind the refund form's bank pickers.

The data is the PyPI ``zengin-code`` compilation. It loads every bank and branch
at import (about 0.3 s), so it is imported on first use, once per process. It is a
third party's work and lags reality (mergers, closed branches), so staff keep
override rows that are laid over it; those arrive as ``MasterOverride`` values and
this module never touches the database.

The package has no search, and customers know their bank by name (in kanji, kana
or romaji) rather than by code, so each entry gets a folded search key once.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import jaconv

__all__ = ["BankEntry", "BankMaster", "BranchEntry", "MasterOverride", "build_master", "default_master"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BankEntry:
    code: str
    name: str
    kana: str


@dataclass(frozen=True)
class BranchEntry:
    bank_code: str
    code: str
    name: str
    kana: str


@dataclass(frozen=True)
class MasterOverride:
    """A staff correction: ``branch_code`` "" means the bank itself; ``closed`` removes the entry."""

    bank_code: str
    branch_code: str
    name: str
    kana: str
    closed: bool


_Entry = TypeVar("_Entry", BankEntry, BranchEntry)
# An entry with its search key: the folded terms joined by NUL, so one ``in`` test filters.
_Indexed = tuple[_Entry, tuple[str, ...], str]

_SEARCH_FOLD = str.maketrans(
    {
        **dict(zip("ァィゥェォャュョッヮヵヶ", "アイウエオヤユヨツワカケ", strict=True)),
        **dict.fromkeys("‐‑‒–—―−－ーｰ", "-"),
        **dict.fromkeys(" \u3000・･.．", None),
    }
)


def _fold(text: str) -> str:
    """One spelling for kanji, kana, hiragana and romaji: NFKC, katakana, lower case, large kana."""
    return jaconv.hira2kata(unicodedata.normalize("NFKC", text)).lower().translate(_SEARCH_FOLD)


def _index(entry: _Entry, *spellings: str) -> _Indexed[_Entry]:
    terms = tuple(dict.fromkeys(term for term in (_fold(spelling) for spelling in spellings) if term))
    return entry, terms, "\x00".join(terms)


def _query_variants(query: str) -> tuple[str, ...]:
    """The folded query, plus its kana reading when it is romaji ("mizuho" finds ミズホ).

    The package's own romaji is spelled from enlarged kana (ゆうちよ → "yuuchiyo"), so
    reading the query as kana finds what customers actually type ("yuucho").
    """
    folded = _fold(query)
    if not folded:
        return ()
    variants = [folded]
    if folded.isascii() and folded.isalpha():
        kana = jaconv.alphabet2kana(folded)
        # alphabet2kana turns stray consonants into っ; only a clean round trip is a reading.
        if jaconv.kana2alphabet(kana) == folded:
            variants.append(_fold(kana))
    return tuple(dict.fromkeys(variants))


def _search(items: Iterable[tuple[str, _Indexed[_Entry]]], query: str, limit: int) -> list[_Entry]:
    if limit <= 0:
        return []
    variants = _query_variants(query)
    if not variants:
        return []
    code_query = variants[0] if variants[0].isascii() and variants[0].isdigit() else ""
    ranked: list[tuple[int, str, _Entry]] = []
    for code, (entry, terms, joined) in items:
        rank = 9
        if code_query and code.startswith(code_query):
            rank = 0 if code == code_query else 1
        else:
            for variant in variants:
                if variant not in joined:
                    continue
                for term in terms:
                    if term == variant:
                        rank = min(rank, 2)
                    elif term.startswith(variant):
                        rank = min(rank, 3)
                    elif variant in term:
                        rank = min(rank, 4)
        if rank < 9:
            ranked.append((rank, code, entry))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in ranked[:limit]]


@dataclass(frozen=True)
class _PackageData:
    banks: dict[str, _Indexed[BankEntry]]
    branches: dict[str, dict[str, _Indexed[BranchEntry]]]


_lock = threading.Lock()
_package_data: _PackageData | None = None
_default_master: BankMaster | None = None


def _load_package_data() -> _PackageData:
    import zengin_code  # the import itself reads all the JSON: keep it off the start-up path

    banks: dict[str, _Indexed[BankEntry]] = {}
    branches: dict[str, dict[str, _Indexed[BranchEntry]]] = {}
    source: Mapping[str, Any] = zengin_code.Bank.all
    for code, bank in source.items():
        banks[code] = _index(BankEntry(code=code, name=bank.name, kana=bank.kana), bank.name, bank.kana, bank.hira, bank.roma)
        branches[code] = {
            branch_code: _index(
                BranchEntry(bank_code=code, code=branch_code, name=branch.name, kana=branch.kana),
                branch.name,
                branch.kana,
                branch.hira,
                branch.roma,
            )
            for branch_code, branch in bank.branches.items()
        }
    return _PackageData(banks=banks, branches=branches)


def _package() -> _PackageData:
    global _package_data
    if _package_data is None:
        with _lock:
            if _package_data is None:
                _package_data = _load_package_data()
    return _package_data


def _valid_override(override: MasterOverride) -> bool:
    bank_ok = len(override.bank_code) == 4 and override.bank_code.isascii() and override.bank_code.isdigit()
    branch = override.branch_code
    branch_ok = branch == "" or (len(branch) == 3 and branch.isascii() and branch.isdigit())
    return bank_ok and branch_ok


class BankMaster:
    """Banks and branches, the package's data with staff overrides laid over it.

    The package's dictionaries are shared by every master and copied only where an
    override changes them, so building one per request with a few overrides is cheap.
    """

    def __init__(self, overrides: Iterable[MasterOverride] = ()) -> None:
        data = _package()
        self._banks = data.banks
        self._branches = data.branches
        rows = list(overrides)
        if rows:
            self._apply(rows)

    def _apply(self, rows: list[MasterOverride]) -> None:
        self._banks = dict(self._banks)
        self._branches = dict(self._branches)
        copied: set[str] = set()
        valid = []
        for row in rows:
            if _valid_override(row):
                valid.append(row)
            else:
                logger.warning("Bank master override %r ignored: codes must be 4 and 3 (or no) digits", row)
        # Banks first, so a branch override may hang off a bank that an override adds.
        for row in sorted(valid, key=lambda row: row.branch_code != ""):
            if row.branch_code == "":
                if row.closed:
                    self._banks.pop(row.bank_code, None)
                    self._branches.pop(row.bank_code, None)
                    continue
                old_bank = self._banks.get(row.bank_code)
                bank = BankEntry(
                    code=row.bank_code,
                    name=row.name or (old_bank[0].name if old_bank else ""),
                    kana=row.kana or (old_bank[0].kana if old_bank else ""),
                )
                self._banks[row.bank_code] = _index(bank, bank.name, bank.kana)
                self._branches.setdefault(row.bank_code, {})
                continue
            if row.bank_code not in self._banks:
                logger.warning("Bank master override for branch %s-%s ignored: no such bank", row.bank_code, row.branch_code)
                continue
            if row.bank_code not in copied:
                self._branches[row.bank_code] = dict(self._branches.get(row.bank_code, {}))
                copied.add(row.bank_code)
            branches = self._branches[row.bank_code]
            if row.closed:
                branches.pop(row.branch_code, None)
                continue
            old_branch = branches.get(row.branch_code)
            branch = BranchEntry(
                bank_code=row.bank_code,
                code=row.branch_code,
                name=row.name or (old_branch[0].name if old_branch else ""),
                kana=row.kana or (old_branch[0].kana if old_branch else ""),
            )
            branches[row.branch_code] = _index(branch, branch.name, branch.kana)

    def bank(self, code: str) -> BankEntry | None:
        indexed = self._banks.get(code)
        return indexed[0] if indexed else None

    def branch(self, bank_code: str, branch_code: str) -> BranchEntry | None:
        indexed = self._branches.get(bank_code, {}).get(branch_code)
        return indexed[0] if indexed else None

    def search_banks(self, query: str, limit: int = 20) -> list[BankEntry]:
        """Autocomplete: code prefix, or name, kana, hiragana or romaji containing ``query``; best first."""
        return _search(self._banks.items(), query, limit)

    def search_branches(self, bank_code: str, query: str, limit: int = 20) -> list[BranchEntry]:
        """The same search over one bank's branches (customers pick the bank first)."""
        return _search(self._branches.get(bank_code, {}).items(), query, limit)


def default_master() -> BankMaster:
    """The package data without overrides, built once per process."""
    global _default_master
    if _default_master is None:
        master = BankMaster()
        with _lock:
            if _default_master is None:
                _default_master = master
    return _default_master


def build_master(overrides: Iterable[MasterOverride]) -> BankMaster:
    """A master with staff overrides; the package data underneath is loaded only once."""
    rows = list(overrides)
    return BankMaster(rows) if rows else default_master()
