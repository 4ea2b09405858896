"""The bank-account form of the refund portal, and the bank and branch search behind its pickers.

Customers know their bank by name, rarely by code, so the bank and branch are typed as
text. A small script (static/refunds/bank_picker.js) offers matches from the Zengin master
as they type and fills the hidden code; without the script, submitting the text shows the
matches as a list to pick from. Either way ``bank_details_clean`` has the last word, and its
per-field errors are shown next to the inputs they are about.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import jaconv
from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import BankDetails
from ..services.banks import bank_master
from ..services.payee import YUCHO_BANK_CODE, CleanBankDetails, PayeeInvalid, bank_details_clean
from ..zengin.banks import BankEntry, BranchEntry

SEARCH_LIMIT = 10
QUERY_MAX = 40

# Words people add that the master leaves out ("みずほ銀行" is "みずほ" there, "新宿支店" is "新宿").
_BANK_SUFFIXES = ("銀行", "ぎんこう", "ギンコウ", " bank", "bank")
_BRANCH_SUFFIXES = ("支店", "してん", "シテン", " branch", "branch", "出張所")
_LONG_FORMS = {"信用金庫": "信金", "しんようきんこ": "しんきん", "信用組合": "信組", "農業協同組合": "農協"}
_LABEL_CODE = re.compile(r"[(]\s*(\d{3,4})\s*[)]\s*$")


def query_simplify(raw: str, *, branch: bool = False) -> str:
    """What to search the master for: NFKC, without the suffixes it does not spell."""
    text = unicodedata.normalize("NFKC", raw or "").strip()[:QUERY_MAX]
    text = _LABEL_CODE.sub("", text).strip() or text
    for long_form, short in _LONG_FORMS.items():
        text = text.replace(long_form, short)
    lowered = text.lower()
    for suffix in _BRANCH_SUFFIXES if branch else _BANK_SUFFIXES:
        if lowered.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)].strip()
            break
    return text


def entry_label(entry: BankEntry | BranchEntry) -> str:
    """ "みずほ (0001)": the name as people read it (NFKC folds ＵＦＪ to UFJ) and its code."""
    return f"{unicodedata.normalize('NFKC', entry.name)} ({entry.code})"


def bank_search(query: str, limit: int = SEARCH_LIMIT) -> list[BankEntry]:
    text = query_simplify(query)
    return bank_master().search_banks(text, limit=limit) if text else []


def branch_search(bank_code: str, query: str, limit: int = SEARCH_LIMIT) -> list[BranchEntry]:
    text = query_simplify(query, branch=True)
    return bank_master().search_branches(bank_code, text, limit=limit) if text else []


def _same_name(entry: BankEntry | BranchEntry, text: str) -> bool:
    wanted = jaconv.hira2kata(unicodedata.normalize("NFKC", text)).lower()
    return wanted in {unicodedata.normalize("NFKC", entry.name).lower(), unicodedata.normalize("NFKC", entry.kana).lower()}


@dataclass
class Pick:
    """What the typed text resolved to: one entry, or the candidates to choose from, or an error."""

    entry: BankEntry | BranchEntry | None = None
    choices: list[Any] = field(default_factory=list)
    error: str = ""


def _pick(text: str, code: str, *, digits: int, lookup: Any, search: Any, what: dict[str, Any]) -> Pick:
    if code and re.fullmatch(rf"\d{{{digits}}}", code) and (found := lookup(code)) is not None:
        return Pick(entry=found)
    typed = unicodedata.normalize("NFKC", text or "").strip()
    if not typed:
        return Pick(error=str(what["empty"]))
    labelled = _LABEL_CODE.search(typed)
    if labelled and len(labelled.group(1)) == digits and (found := lookup(labelled.group(1))) is not None:
        return Pick(entry=found)
    if typed.isascii() and typed.isdigit():
        found = lookup(typed.zfill(digits)) if len(typed) <= digits else None
        return Pick(entry=found) if found is not None else Pick(error=str(what["no_code"] % {"code": typed}))
    results = search(typed, SEARCH_LIMIT)
    if not results:
        return Pick(error=str(what["none"] % {"text": typed}))
    if len(results) == 1:
        return Pick(entry=results[0])
    simplified = query_simplify(typed, branch=digits == 3)
    exact = [entry for entry in results if _same_name(entry, simplified)]
    if len(exact) == 1:
        return Pick(entry=exact[0])
    return Pick(choices=results, error=str(what["several"] % {"text": typed}))


def bank_pick(text: str, code: str) -> Pick:
    master = bank_master()
    return _pick(
        text,
        code,
        digits=4,
        lookup=master.bank,
        search=bank_search,
        what={
            "empty": _("Enter your bank's name (for example みずほ or mizuho) or its 4-digit code."),
            "no_code": _("There is no bank with the code %(code)s. Check the code, or type the bank's name."),
            "none": _("No bank matches “%(text)s”. Check the spelling, or type the 4-digit bank code."),
            "several": _("Several banks match “%(text)s”. Choose yours from the list below."),
        },
    )


def branch_pick(bank_code: str, text: str, code: str) -> Pick:
    master = bank_master()
    return _pick(
        text,
        code,
        digits=3,
        lookup=lambda value: master.branch(bank_code, value),
        search=lambda value, limit: branch_search(bank_code, value, limit),
        what={
            "empty": _("Enter the branch name or its 3-digit code (printed in the bank book)."),
            "no_code": _("This bank has no branch with the code %(code)s."),
            "none": _("No branch of this bank matches “%(text)s”. Check the spelling, or type the 3-digit branch code."),
            "several": _("Several branches match “%(text)s”. Choose yours from the list below."),
        },
    )


# bank_details_clean's error keys → this form's fields.
_ERROR_FIELDS = {
    "bank_code": "bank",
    "branch_code": "branch",
    "account_type": "account_type",
    "account_number": "account_number",
    "holder_name": "holder_name",
    "yucho_kigou": "yucho_kigou",
    "yucho_bangou": "yucho_bangou",
    "yucho_savings": "yucho_savings",
}
_YUCHO_FIELDS = {"yucho_kigou", "yucho_bangou", "yucho_savings", "holder_name"}


class BankDetailsForm(forms.Form):
    """Bank, branch, type, number and holder name, or ゆうちょ 記号・番号 and holder name."""

    KIND_BANK = "bank"
    KIND_YUCHO = "yucho"

    account_kind = forms.ChoiceField(
        label=_("How do you know your account?"),
        choices=[
            (KIND_BANK, _("Bank, branch and account number")),
            (KIND_YUCHO, _("ゆうちょ銀行: 記号 and 番号 from the passbook")),
        ],
        initial=KIND_BANK,
        widget=forms.RadioSelect,
    )
    bank = forms.CharField(
        label=_("Bank"),
        required=False,
        max_length=QUERY_MAX + 10,
        help_text=_("Type the name (みずほ, mizuho) or the 4-digit bank code, then choose your bank."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    bank_code = forms.CharField(required=False, max_length=4, widget=forms.HiddenInput)
    branch = forms.CharField(
        label=_("Branch"),
        required=False,
        max_length=QUERY_MAX + 10,
        help_text=_("The branch name or its 3-digit code, as in the bank book."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    branch_code = forms.CharField(required=False, max_length=3, widget=forms.HiddenInput)
    account_type = forms.ChoiceField(
        label=_("Account type"),
        required=False,
        choices=[(str(value), label) for value, label in BankDetails.AccountType.choices],
        initial="1",
        widget=forms.RadioSelect,
    )
    account_number = forms.CharField(
        label=_("Account number"),
        required=False,
        max_length=16,
        help_text=_("Up to 7 digits."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    yucho_kigou = forms.CharField(
        label=_("記号 (symbol)"),
        required=False,
        max_length=12,
        help_text=_("5 digits, starting with 1 or 0, for example 12340."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    yucho_bangou = forms.CharField(
        label=_("番号 (number)"),
        required=False,
        max_length=16,
        help_text=_("Up to 8 digits, for example 12345671."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    yucho_savings = forms.BooleanField(label=_("This is a savings account (貯蓄貯金)"), required=False)
    holder_name = forms.CharField(
        label=_("Account holder's name in kana"),
        max_length=60,
        help_text=_(
            "As printed in the bank book, in katakana or hiragana, for example ヤマダ ハナコ. "
            "We write it the way banks do (ﾔﾏﾀﾞ ﾊﾅｺ). No kanji."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": _("Enter the account holder's name.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bank_choices: list[BankEntry] = []
        self.branch_choices: list[BranchEntry] = []
        self.details: CleanBankDetails | None = None
        self.labels: dict[str, str] = {}
        self.params: dict[str, Any] = {}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("account_kind") or self.KIND_BANK
        holder = data.get("holder_name") or ""
        if kind == self.KIND_YUCHO:
            params = self._yucho_params(data, holder)
            keep = _YUCHO_FIELDS
        else:
            params = self._bank_params(data, holder)
            keep = set(_ERROR_FIELDS.values())
        try:
            self.details = bank_details_clean(**params)
        except PayeeInvalid as invalid:
            for key, message in invalid.errors.items():
                name = _ERROR_FIELDS.get(key)
                if name is None or name not in keep:
                    if not self.errors:
                        self.add_error(None, message)
                    continue
                if name not in self.errors:
                    self.add_error(name, message)
        if self.errors:
            self.details = None
        elif self.details is not None:
            self.labels = {
                "bank": f"{unicodedata.normalize('NFKC', self.details.bank_name)} ({self.details.bank_code})",
                "branch": f"{unicodedata.normalize('NFKC', self.details.branch_name)} ({self.details.branch_code})",
            }
        self.params = params
        return data

    def _yucho_params(self, data: dict[str, Any], holder: str) -> dict[str, Any]:
        kigou, bangou = data.get("yucho_kigou") or "", data.get("yucho_bangou") or ""
        if not kigou.strip():
            self.add_error("yucho_kigou", _("Enter the 5-digit 記号 from the passbook."))
        if not bangou.strip():
            self.add_error("yucho_bangou", _("Enter the 番号 from the passbook."))
        return {
            "bank_code": YUCHO_BANK_CODE,
            "holder_name": holder,
            "yucho_kigou": kigou if bangou.strip() else "",
            "yucho_bangou": bangou if kigou.strip() else "",
            "yucho_savings": bool(data.get("yucho_savings")),
        }

    def _bank_params(self, data: dict[str, Any], holder: str) -> dict[str, Any]:
        bank = bank_pick(data.get("bank") or "", data.get("bank_code") or "")
        branch_code = ""
        if bank.entry is not None:
            self._show_pick("bank", bank.entry)
        if bank.entry is None:
            self.bank_choices = list(bank.choices)
            self.add_error("bank", bank.error)
        else:
            branch = branch_pick(bank.entry.code, data.get("branch") or "", data.get("branch_code") or "")
            if branch.entry is None:
                self.branch_choices = list(branch.choices)
                self.add_error("branch", branch.error)
            else:
                branch_code = branch.entry.code
                self._show_pick("branch", branch.entry)
        return {
            "bank_code": bank.entry.code if bank.entry is not None else "",
            "branch_code": branch_code,
            "account_type": data.get("account_type") or None,
            "account_number": data.get("account_number") or "",
            "holder_name": holder,
        }

    def _show_pick(self, name: str, entry: BankEntry | BranchEntry) -> None:
        """Shown again (another field has an error), the form names what the text resolved to."""
        data = dict(self.data.items())
        data[name] = entry_label(entry)
        data[f"{name}_code"] = entry.code
        self.data = data

    def stored(self) -> dict[str, Any]:
        """What the session keeps between the steps: the inputs ``bank_details_clean`` takes (run
        again when the claim is filed, against the master of that moment) and the labels shown."""
        assert self.details is not None
        values = {key: str(value) if not isinstance(value, bool) else value for key, value in self.params.items() if value is not None}
        return {"kind": self.cleaned_data.get("account_kind") or self.KIND_BANK, "params": values, "labels": self.labels}

    @classmethod
    def initial_from(cls, stored: dict[str, Any] | None, *, holder_name: str = "") -> dict[str, Any]:
        """Fill the form again from the session (the customer went back a step)."""
        if not stored:
            return {"account_kind": cls.KIND_BANK, "account_type": "1", "holder_name": holder_name}
        params, labels = stored.get("params", {}), stored.get("labels", {})
        return {
            "account_kind": stored.get("kind", cls.KIND_BANK),
            "bank": labels.get("bank", "") if stored.get("kind") != cls.KIND_YUCHO else "",
            "bank_code": params.get("bank_code", "") if stored.get("kind") != cls.KIND_YUCHO else "",
            "branch": labels.get("branch", "") if stored.get("kind") != cls.KIND_YUCHO else "",
            "branch_code": params.get("branch_code", ""),
            "account_type": params.get("account_type", "1"),
            "account_number": params.get("account_number", ""),
            "yucho_kigou": params.get("yucho_kigou", ""),
            "yucho_bangou": params.get("yucho_bangou", ""),
            "yucho_savings": bool(params.get("yucho_savings")),
            "holder_name": params.get("holder_name", holder_name),
        }


def bank_details_from_stored(stored: dict[str, Any]) -> CleanBankDetails:
    """The details again from what the session kept; raises ``PayeeInvalid`` if the master changed meanwhile."""
    params = dict(stored.get("params", {}))
    if "yucho_savings" in params:
        params["yucho_savings"] = bool(params["yucho_savings"])
    return bank_details_clean(**params)


def choice_rows(entries: list[Any]) -> list[dict[str, str]]:
    return [{"code": entry.code, "label": entry_label(entry), "kana": entry.kana} for entry in entries]
