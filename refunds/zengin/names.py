"""Account-holder names in the form Japanese banks compare them: half-width kana, 30 bytes.

A 総合振込 file carries the recipient's name as the receiving bank's ledger
spells it (JIS X 0201 katakana). A mismatch does not fail the file: the money
comes back days later as a return. So customers' input is folded here into that
spelling, and anything that cannot be folded without guessing (kanji, emoji) is
refused with a message the customer can act on.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jaconv
from django.utils.translation import gettext_lazy as _

__all__ = [
    "BANK_FIELD_CHARACTERS",
    "MAX_NAME_BYTES",
    "NAME_CHARACTERS",
    "ZenginNameError",
    "bank_field_text",
    "names_match",
    "normalise_holder_name",
    "zengin_bytes_length",
]

MAX_NAME_BYTES = 30

_KANA = "".join(chr(c) for c in range(0xFF71, 0xFF9E))  # ｱ … ﾝ: no ｦ, no small kana, no ｰ
_VOICING = "ﾞﾟ"
_LATIN_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
NAME_CHARACTERS: frozenset[str] = frozenset(_KANA + _VOICING + _LATIN_DIGITS + " ()-.")
"""Everything a recipient or company name field may hold."""
BANK_FIELD_CHARACTERS: frozenset[str] = frozenset(_KANA + _VOICING + _LATIN_DIGITS + " -")
"""Bank and branch name fields allow fewer symbols than names."""

# Every dash and long-vowel mark a customer's keyboard or a PDF copy may produce.
_DASHES = "-‐‑‒–—―−⁃﹘﹣－ーｰ─━"
_DOTS = "・･·‧"

# Applied to full-width katakana before jaconv halves it; jaconv keeps small kana, ｰ and ･.
_FOLD = str.maketrans(
    {
        **dict(zip("ァィゥェォャュョッヮヵヶ", "アイウエオヤユヨツワカケ", strict=True)),
        **dict(zip("ｧｨｩｪｫｬｭｮｯ", "ｱｲｳｴｵﾔﾕﾖﾂ", strict=True)),
        **dict(zip("ㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ", "クシストヌハヒフヘホムラリルレロ", strict=True)),
        "ヲ": "オ",
        "ヰ": "イ",
        "ヱ": "エ",
        "ヴ": "ｳﾞ",
        "ヷ": "ﾜﾞ",
        "ヸ": "ｲﾞ",
        "ヹ": "ｴﾞ",
        "ヺ": "ｵﾞ",
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys(_DOTS, "."),
    }
)

# Legal-form words and their bank abbreviations (full-width here; halved with the rest).
_LEGAL_FORMS = {
    "株式会社": "カ",
    "(株)": "カ",
    "有限会社": "ユ",
    "(有)": "ユ",
    "合同会社": "ド",
    "医療法人": "イ",
    "財団法人": "ザイ",
    "社団法人": "シヤ",
    "学校法人": "ガク",
    "NPO法人": "トクヒ",
}
_LEGAL_FORM_RE = re.compile(r"\s*(" + "|".join(re.escape(word) for word in _LEGAL_FORMS) + r")\s*")


class ZenginNameError(ValueError):
    """A name that cannot go into a transfer file; ``message`` is shown to the customer."""

    def __init__(self, code: str, message: object) -> None:
        self.code = code
        self.message = str(message)
        super().__init__(self.message)


def zengin_bytes_length(text: str) -> int:
    """Bank fields are sized in cp932 bytes, not characters (ｶﾞ takes two).

    A character cp932 cannot encode counts as two, the most any character takes there,
    so a length check never passes text that could not be written anyway.
    """
    try:
        return len(text.encode("cp932"))
    except UnicodeEncodeError:
        total = 0
        for char in text:
            try:
                total += len(char.encode("cp932"))
            except UnicodeEncodeError:
                total += 2
        return total


def _is_kanji(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x20000 <= code <= 0x3FFFF  # extensions B and later
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or char in "々〆〇"
    )


def _shown(char: str) -> str:
    """Invisible or combining characters are named by code point so the message is readable."""
    if char.isprintable() and not unicodedata.combining(char):
        return char
    return f"U+{ord(char):04X}"


def _legal_form(match: re.Match[str]) -> str:
    abbreviation = _LEGAL_FORMS[match.group(1)]
    whole = match.string
    if match.start() == 0:
        return abbreviation + ")"
    if match.end() == len(whole):
        return "(" + abbreviation
    return "(" + abbreviation + ")"


def _fold(raw: str, *, legal_forms: bool) -> str:
    """The shared pipeline: NFKC, katakana, upper case, abbreviations, large kana, half width."""
    text = unicodedata.normalize("NFKC", raw)
    text = jaconv.hira2kata(text).upper()
    text = " ".join(text.split())
    if legal_forms and text:
        text = _LEGAL_FORM_RE.sub(_legal_form, text)
    text = text.translate(_FOLD)
    text = jaconv.z2h(text, kana=True, ascii=True, digit=True)
    return " ".join(text.split())


def _check_characters(text: str) -> None:
    for char in text:
        if char in NAME_CHARACTERS:
            continue
        if _is_kanji(char):
            raise ZenginNameError(
                "kanji",
                _(
                    "“%(char)s” is a kanji. Banks only accept names in kana: type the account holder's name "
                    "in katakana or hiragana exactly as it is printed in the bank book."
                )
                % {"char": char},
            )
        raise ZenginNameError(
            "invalid_character",
            _("“%(char)s” cannot be used in a bank account name. Use kana, A–Z, 0–9, spaces and ( ) - . only.") % {"char": _shown(char)},
        )


def _normalised(raw: str) -> str:
    text = _fold(raw, legal_forms=True)
    if not text:
        raise ZenginNameError("empty", _("Enter the account holder's name."))
    _check_characters(text)
    return text


def normalise_holder_name(raw: str) -> str:
    """Turn what the customer typed into the spelling the receiving bank compares against.

    Refuses rather than guesses: a wrong guess at a reading or a cut-off name only
    surfaces days later as money returned by the bank.
    """
    text = _normalised(raw)
    length = zengin_bytes_length(text)
    if length > MAX_NAME_BYTES:
        raise ZenginNameError(
            "too_long",
            _(
                "The name is %(length)d characters long in bank form (ﾞ and ﾟ count as one each); at most %(limit)d fit. "
                "Enter it as shortened in the bank book."
            )
            % {"length": length, "limit": MAX_NAME_BYTES},
        )
    return text


def names_match(account_holder: str, registered_kana: str) -> bool:
    """Whether the account is in the customer's own name, compared as the bank would compare it.

    Spaces are ignored because profiles and bank books disagree on where (and whether)
    family and given names are separated. Anything that cannot be normalised is no match,
    so it goes to review instead of to the bank.
    """
    try:
        holder = _normalised(account_holder)
        registered = _normalised(registered_kana)
    except ZenginNameError:
        return False
    return holder.replace(" ", "") == registered.replace(" ", "")


def _cut(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    end = width
    # A voicing mark belongs to the kana before it: never leave the base without it.
    while end > 0 and text[end] in _VOICING:
        end -= 1
    return text[:end].rstrip()


@lru_cache(maxsize=4096)
def _bank_field_text(kana: str, width: int) -> str:
    text = _fold(kana, legal_forms=False)
    text = "".join(char if char in BANK_FIELD_CHARACTERS else " " for char in text)
    text = " ".join(text.split())
    text = text.lstrip(_VOICING + " ")
    return _cut(text, width) if width > 0 else ""


def bank_field_text(kana: str, width: int) -> str:
    """Best-effort text for the optional bank and branch name fields.

    Those fields are informational (the codes route the money), so bad input is dropped
    rather than refused: this never raises, and returns "" when nothing usable is left.
    The result is cached because the same few bank names recur on every record of a file.
    """
    if not isinstance(kana, str) or not kana:
        return ""
    return _bank_field_text(kana, width)
